package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/internal/stack"
	"github.com/shoplake/shoplake/shared/source/connect"
)

// orderMeaning is what the marts say of the orders, whatever store they
// came from: per order its date, lines, units and exact revenue, and per
// line its date, units, unit price and revenue, each list sorted; then the
// exact revenue of the live orders and the dimensions' sizes.
func orderMeaning(t *testing.T, dir string) []string {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	var out []string
	for _, q := range []string{
		`select order_date || ' ' || item_count || ' ' || total_quantity || ' ' || revenue || ' ' || is_deleted from bq_analytics.fact_orders order by 1`,
		`select order_date || ' ' || quantity || ' ' || unit_price || ' ' || line_revenue from bq_analytics.fact_order_items order by 1`,
		`select 'revenue ' || sum(revenue) from bq_analytics.fact_orders where not is_deleted`,
		`select 'dim_products ' || count(*) || ', inferred ' || count(*) filter (where is_inferred) from bq_analytics.dim_products`,
		`select 'dim_users ' || count(*) || ', inferred ' || count(*) filter (where is_inferred) from bq_analytics.dim_users`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// storeRuns are one clean run of each store stand-in, shared by the tests
// of this file: each copies its directory before changing it.
var storeRuns struct {
	once sync.Once
	dirs map[string]string
	err  string
}

// cleanStoreRun is the directory of a clean run (with dbt, when the test
// has it) of the stand-in of kind.
func cleanStoreRun(t *testing.T, kind string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	storeRuns.once.Do(func() {
		storeRuns.dirs = map[string]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, k := range connect.Kinds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dir, err := os.MkdirTemp("", "shoplake-"+k+"-")
				if err != nil {
					mu.Lock()
					storeRuns.err += err.Error()
					mu.Unlock()
					return
				}
				r := runLocal(t, dir, nil, append([]string{"--port", "0", "--source", k}, dbtArgs()...)...)
				mu.Lock()
				defer mu.Unlock()
				if r.code != 0 {
					storeRuns.err += "clean " + k + " run failed:\n" + r.stdout + r.stderr
					return
				}
				storeRuns.dirs[k] = dir
			}()
		}
		wg.Wait()
	})
	if storeRuns.err != "" {
		t.Fatal(storeRuns.err)
	}
	return storeRuns.dirs[kind]
}

// TestEveryStoreRunsToTheSameMarts: the FakeStore snapshot, served by the
// Shopify and the WooCommerce stand-ins in their own shapes, makes the same
// marts as the built-in FakeStore API (the same orders, lines and revenue,
// exact to the cent), and the run and its report name the store.
func TestEveryStoreRunsToTheSameMarts(t *testing.T) {
	t.Parallel()
	if os.Getenv("SHOPLAKE_DBT") == "" {
		t.Skip("builds the marts: needs SHOPLAKE_DBT (make test sets it)")
	}
	want := orderMeaning(t, cleanStoreRun(t, connect.FakeStore))
	if !slices.Contains(want, "revenue 4691.270000000") {
		t.Fatalf("the FakeStore run's marts: %q, want revenue 4691.27", want)
	}
	for _, kind := range []string{connect.Shopify, connect.WooCommerce} {
		t.Run(kind, func(t *testing.T) {
			dir := cleanStoreRun(t, kind)
			if diff := cmp.Diff(want, orderMeaning(t, dir)); diff != "" {
				t.Errorf("marts of the %s run differ from the FakeStore run's (-fakestore +%s):\n%s", kind, kind, diff)
			}
			s := lastRun(t, dir)
			if s.Ingest.Source != kind || !strings.Contains(strings.ToLower(s.Source), kind) {
				t.Errorf("the run names the source %q (%q), want %s", s.Ingest.Source, s.Source, kind)
			}
			db := openWarehouse(t, dir)
			var kinds string
			if err := db.QueryRow(`select string_agg(distinct source_kind || '/' || order_kind || '/' || currency, ',') from bq_analytics.fact_orders`).Scan(&kinds); err != nil || kinds != kind+"/order/USD" {
				t.Errorf("fact_orders source/kind/currency = %q (%v), want %s/order/USD", kinds, err, kind)
			}
			db.Close()
			page, err := os.ReadFile(filepath.Join(dir, "report.html"))
			if err != nil || !strings.Contains(string(page), "of the "+kind+" store") {
				t.Errorf("the report does not name the %s store (%v)", kind, err)
			}

			// The same store again: nothing new is written, nothing rebuilt.
			again := copyDir(t, dir)
			before := readRawState(t, again)
			r := runLocal(t, again, nil, append([]string{"--port", "0", "--source", kind}, dbtArgs()...)...)
			if r.code != 0 {
				t.Fatalf("second run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if s := lastRun(t, again); s.DBT.Status != "skipped" {
				t.Errorf("second run built the marts (%s: %s); the store did not change", s.DBT.Status, s.DBT.Reason)
			}
			if diff := cmp.Diff(before, readRawState(t, again)); diff != "" {
				t.Errorf("second run changed the lake or raw tables (-before +after):\n%s", diff)
			}
		})
	}
}

// TestStoresMisbehaving runs each store stand-in misbehaving as a real
// store does. A transient fault is ridden out: the raw tables end as a
// clean run's. Refused credentials and an answer that is not the API's
// fail the run with a line that says so, and leave the lake and raw tables
// byte-identical to what the last run left.
func TestStoresMisbehaving(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind, fault string
		env         []string
		wantErr     string
		// name names a case without a fault.
		name string
	}{
		{kind: connect.Shopify, fault: "throttle-storm"},
		{kind: connect.Shopify, fault: "cut-off"},
		{kind: connect.Shopify, fault: "byte-every-200ms", env: []string{"SOURCE_TIMEOUT=5s"}},
		{kind: connect.Shopify, name: "wrong token", env: []string{"SOURCE_API_KEY=shpat_wrong_token"},
			wantErr: "shopify refused the access token (HTTP 401) read from SOURCE_API_KEY"},
		{kind: connect.Shopify, fault: "token-revoked", wantErr: "HTTP 401"},
		// The catalogue is exported in bulk when it is read in full: on a
		// first run, and every SOURCE_FULL_EXPORT_EVERY (1ns: every run).
		{kind: connect.Shopify, fault: "bulk-expired", env: []string{"SOURCE_FULL_EXPORT_EVERY=1ns"}, wantErr: "shopify bulk operation did not complete"},
		{kind: connect.WooCommerce, fault: "503-run"},
		{kind: connect.WooCommerce, fault: "cut-off"},
		{kind: connect.WooCommerce, fault: "credentials-refused",
			wantErr: "woocommerce refused the credentials (HTTP 401, woocommerce_rest_authentication_error) read from SOURCE_API_KEY"},
		{kind: connect.WooCommerce, fault: "html-page", wantErr: "woocommerce answered something other than JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.kind+" "+tc.fault+tc.name, func(t *testing.T) {
			t.Parallel()
			clean := cleanStoreRun(t, tc.kind)
			dir := copyDir(t, clean)
			before := readRawState(t, dir)
			args := []string{"--port", "0", "--source", tc.kind}
			if tc.fault != "" {
				args = append(args, "--source-fault", tc.fault)
			}
			r := runLocal(t, dir, tc.env, args...)
			if tc.wantErr == "" {
				if r.code != 0 {
					t.Fatalf("exit %d, want 0 after retries\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
				}
				if diff := cmp.Diff(before.Rows, readRawState(t, dir).Rows); diff != "" {
					t.Errorf("raw rows differ from a clean run's (-clean +got):\n%s", diff)
				}
				return
			}
			if r.code == 0 || !strings.Contains(r.stderr, tc.wantErr) {
				t.Fatalf("exit %d, want non-zero with %q\nstdout:\n%s\nstderr:\n%s", r.code, tc.wantErr, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, "shpat_wrong_token") || strings.Contains(r.stdout+r.stderr, stack.LocalWooSecret) {
				t.Errorf("the credentials are in the output:\n%s\n%s", r.stdout, r.stderr)
			}
			if diff := cmp.Diff(before, readRawState(t, dir)); diff != "" {
				t.Errorf("the refused run changed what the last run left (-before +after):\n%s", diff)
			}
		})
	}
}

// TestStoresAtScale: --scale makes a store stand-in hold that many
// synthetic products, customers and orders, and the run reads every one.
func TestStoresAtScale(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	for _, kind := range []string{connect.Shopify, connect.WooCommerce} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			r := runLocal(t, dir, nil, "--port", "0", "--source", kind, "--scale", "3000")
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			s := lastRun(t, dir)
			if len(s.Ingest.Entities) != 3 {
				t.Fatalf("entities %+v, want products, customers and orders", s.Ingest.Entities)
			}
			for _, e := range s.Ingest.Entities {
				if e.Valid != 3000 || e.Rejected != 0 {
					t.Errorf("%s: %d valid, %d rejected; want 3000 valid", e.Entity, e.Valid, e.Rejected)
				}
			}
		})
	}
}
