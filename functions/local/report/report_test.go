package report

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/drift"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func samplePage() Page {
	t0 := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	run := func(at time.Time, products int64, status string, phases ...Phase) Run {
		return Run{Started: at, Source: "fakestore", Seconds: 12.5, Status: status, Phases: phases,
			Rows: map[string]int64{"products": products, "users": 10, "carts": 7, "cart events": 7}}
	}
	// The delivery follows the poll as it publishes: the two overlap.
	phases := []Phase{{Name: "ingest", Seconds: 0.5}, {Name: "load", Start: 0.5, Seconds: 0.4}, {Name: "poll", Start: 0.9, Seconds: 0.7},
		{Name: "delivery", Start: 0.9, Seconds: 0.8}, {Name: "dbt", Start: 1.7, Seconds: 10.8}}
	failed := append([]Phase(nil), phases[:4]...)
	failed = append(failed, Phase{Name: "dbt", Start: 1.7, Seconds: 3, Failed: true})
	return Page{
		Generated: t0.Add(time.Hour), Dir: ".local",
		Health: []Health{
			{Name: "bq_raw.cart_events", Kind: "raw", Status: Fresh, Rows: 7, Age: 40 * time.Second, Threshold: 2 * time.Hour},
			{Name: "bq_raw.products", Kind: "raw", Status: Stale, Rows: 20, Age: 30 * time.Hour, Threshold: 26 * time.Hour, Note: "dbt source freshness: warn"},
			{Name: "bq_raw.users", Kind: "raw", Status: Empty},
			{Name: "bq_analytics.fact_orders", Kind: "mart", Status: Failed, Note: "the last dbt build failed"},
		},
		Runs: []Run{
			{Started: t0.Add(-10 * time.Minute), Source: "shopify", Seconds: 16.8, Status: "succeeded", Phases: phases[:2],
				Rows: map[string]int64{"products": 20, "customers": 10, "orders": 7}},
			run(t0, 20, "succeeded", phases...), run(t0.Add(10*time.Minute), 20, "succeeded", phases...),
			run(t0.Add(20*time.Minute), 21, "succeeded", phases...), run(t0.Add(30*time.Minute), 400, "failed", failed...),
		},
		Rejects: []Reject{{Entity: "products", Reason: "invalid record: price fails gte=0", Count: 3},
			{Entity: "cart events", Reason: "decode event: no event_id", Count: 1}},
		Drift: map[string]drift.Report{
			"products": {Records: 20, Added: []drift.Field{{Path: "colour", Count: 20, Type: "string"}},
				Missing: []drift.Field{{Path: "image", Count: 20, Of: 20}},
				Retyped: []drift.Field{{Path: "price", Count: 2, Type: "string", Want: "number"}}},
			"users": {Records: 10},
		},
		Tests:       map[string]int{"pass": 60, "fail": 2},
		FailedTests: []string{"test.shoplake.not_null_fact_orders_order_key", "test.shoplake.unique_dim_users_user_key"},
		Days: []Day{{Date: t0.AddDate(0, 0, -2), Orders: 3, Revenue: 120.5}, {Date: t0.AddDate(0, 0, -1), Orders: 5, Revenue: 300},
			{Date: t0, Orders: 1, Revenue: 9.99}},
		TopProducts: []Product{{Title: "Fjallraven - Foldsack No. 1 Backpack, Fits 15 Laptops", Revenue: 1099.5, Units: 10}, {Title: "Mens Casual Slim Fit", Revenue: 15.99, Units: 1}},
		Functions:   []Function{{Name: "IngestBatch", Runs: 4, Failed: 0, LastStatus: "succeeded", LastRun: t0.Add(30 * time.Minute), RecordsIn: 121}},
		Metrics: []Metric{{Label: "Revenue", Value: "4691.27", Description: "Sum of the live orders' line revenue."},
			{Label: "Average order value", Value: "670.18", Description: "Revenue divided by orders."}},
	}
}

// TestRenderGolden: the page for a fixed set of runs is the golden file
// (go test ./functions/local/report -update rewrites it).
func TestRenderGolden(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Render(&b, samplePage()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("report differs from %s (run with -update after checking the change)", golden)
	}
	for _, s := range []string{
		`data-health="stale"`, `data-health="failed"`, `data-health="empty"`,
		`class="bar unusual"`, `class="phase dbt failed"`,
		"added <code>colour</code> (string) in 20", "stopped arriving: <code>image</code> in 20 of 20", "retyped <code>price</code>: string, model wants number (2)",
		"invalid record: price fails gte=0", "test.shoplake.unique_dim_users_user_key", "Fjallraven - Foldsack No. 1 Backp…",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q", s)
		}
	}
}

func TestRenderWithNothingYet(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Render(&b, Page{Dir: ".local"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"No run recorded yet.", "No table is known yet", "No orders in fact_orders."} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("empty report lacks %q", s)
		}
	}
}

func TestUsualBand(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		values []float64
		want   Band
	}{
		{name: "too few earlier runs", values: []float64{10, 10, 500}},
		{name: "steady: a tenth of the median either side", values: []float64{100, 100, 100, 100}, want: Band{Lo: 90, Hi: 110, OK: true}},
		{name: "noisy: three scaled MADs", values: []float64{100, 120, 80, 100, 0}, want: Band{Lo: 100 - 3*1.4826*10, Hi: 100 + 3*1.4826*10, OK: true}},
		{name: "never below zero", values: []float64{1, 50, 100, 5}, want: Band{Lo: 0, Hi: 50 + 3*1.4826*49, OK: true}},
	}
	for _, tc := range cases {
		got := usual(tc.values)
		if got.OK != tc.want.OK || math.Abs(got.Lo-tc.want.Lo) > 1e-9 || math.Abs(got.Hi-tc.want.Hi) > 1e-9 {
			t.Errorf("%s: usual(%v) = %+v, want %+v", tc.name, tc.values, got, tc.want)
		}
	}
}

func TestNumber(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := number(n); got != want {
			t.Errorf("number(%d) = %q, want %q", n, got, want)
		}
	}
}
