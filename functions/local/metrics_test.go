package main

import (
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/shared/source/connect"
)

// queryMetrics asks the semantic layer (MetricFlow's mf, beside dbt in the
// test's virtualenv) for metrics grouped by groupBy (none: totals) on the
// warehouse of the run in dir, and returns the rows of its CSV, header
// first. mf reads the semantic manifest from target/ under the directory it
// runs in, which must hold the dbt project file: a directory of the test's
// gets both, the manifest being the one the run's dbt build wrote.
func queryMetrics(t *testing.T, dir, metrics, groupBy string) [][]string {
	t.Helper()
	mf := filepath.Join(filepath.Dir(os.Getenv("SHOPLAKE_DBT")), "mf")
	project, err := filepath.Abs("../../dbt")
	if err != nil {
		t.Fatal(err)
	}
	shadow := t.TempDir()
	for from, to := range map[string]string{
		filepath.Join(project, "dbt_project.yml"):                     filepath.Join(shadow, "dbt_project.yml"),
		filepath.Join(dir, "dbt", "target", "semantic_manifest.json"): filepath.Join(shadow, "target", "semantic_manifest.json"),
	} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(shadow, "out.csv")
	args := []string{"query", "--metrics", metrics, "--csv", out}
	if groupBy != "" {
		args = append(args, "--group-by", groupBy, "--order", groupBy)
	}
	cmd := exec.Command(mf, args...)
	cmd.Dir = shadow
	cmd.Env = append(os.Environ(), "DBT_PROFILES_DIR="+project, "SHOPLAKE_DUCKDB_PATH="+filepath.Join(dir, "warehouse.duckdb"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mf %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// cents writes each number of rows (header aside) to the cent, so that a
// value mf prints as 624.0 or 670.1814285714 compares with one counted by
// hand, and puts the columns in the order of their names (mf chooses its
// own).
func cents(rows [][]string) [][]string {
	order := make([]int, len(rows[0]))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(rows[0][a], rows[0][b]) })
	var out [][]string
	for n, r := range rows {
		var row []string
		for _, i := range order {
			v := r[i]
			if f, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
				v = strconv.FormatFloat(f, 'f', 2, 64)
			}
			row = append(row, v)
		}
		out = append(out, row)
	}
	return out
}

// TestMetricsEqualWhatIsCountedByHand queries every metric of the semantic
// layer on the fixtures' marts. By hand, from the fixture carts and the
// prices of their products:
//
//	cart 1 (2020-03-02): 4 × 109.95 + 1 × 22.30 + 6 × 55.99 =  798.04
//	cart 2 (2020-01-02): 4 × 22.30 + 10 × 109.95 + 2 × 695  = 2578.70
//	cart 3 (2020-03-01): 2 × 109.95 + 1 × 64               =  283.90
//	cart 4 (2020-01-01): 4 × 109.95                        =  439.80
//	cart 5 (2020-03-01): 1 × 9.99 + 1 × 10.99              =   20.98
//	cart 6 (2020-03-01): 2 × 109 + 3 × 114                 =  560.00
//	cart 7 (2020-03-01): 1 × 9.85                          =    9.85
//
// so 7 orders of 42 units by 5 customers (users 1, 2, 3, 4, 8), revenue
// 4,691.27, an average order of 670.18 and 6 units an order; January 3,018.50
// in 2 orders, March 1,672.77 in 5; by category men's clothing (products 1,
// 2, 3) 2,646.44 in 31 units, jewelery (5, 7, 8) 1,410.98 in 4, electronics
// (9, 10, 12) 624.00 in 6, women's clothing (18) 9.85 in 1.
func TestMetricsEqualWhatIsCountedByHand(t *testing.T) {
	t.Parallel()
	if os.Getenv("SHOPLAKE_DBT") == "" {
		t.Skip("needs dbt and mf (SHOPLAKE_DBT; make test sets it)")
	}
	// A copy, for mf opens the warehouse as a writer; and one query at a
	// time, for DuckDB lets one process at a time do so.
	dir := copyDir(t, cleanStoreRun(t, connect.FakeStore))
	cases := []struct {
		name, metrics, groupBy string
		want                   [][]string
	}{
		{"totals", "revenue,orders,average_order_value,items_per_order,customers,units", "", [][]string{
			{"average_order_value", "customers", "items_per_order", "orders", "revenue", "units"},
			{"670.18", "5.00", "6.00", "7.00", "4691.27", "42.00"},
		}},
		{"by month", "revenue,orders", "metric_time__month", [][]string{
			{"metric_time__month", "orders", "revenue"},
			{"2020-01-01 00:00:00", "2.00", "3018.50"},
			{"2020-03-01 00:00:00", "5.00", "1672.77"},
		}},
		{"by category", "revenue,units", "product__product_category", [][]string{
			{"product__product_category", "revenue", "units"},
			{"electronics", "624.00", "6.00"},
			{"jewelery", "1410.98", "4.00"},
			{"men's clothing", "2646.44", "31.00"},
			{"women's clothing", "9.85", "1.00"},
		}},
		{"by store", "revenue,orders,customers", "order__source_kind", [][]string{
			{"customers", "order__source_kind", "orders", "revenue"},
			{"5.00", "fakestore", "7.00", "4691.27"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, cents(queryMetrics(t, dir, tc.metrics, tc.groupBy))); diff != "" {
				t.Errorf("mf query --metrics %s --group-by %q (-want +got):\n%s", tc.metrics, tc.groupBy, diff)
			}
		})
	}
}
