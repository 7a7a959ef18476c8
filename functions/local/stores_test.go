package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/functions/local/wooapi"
	"github.com/shoplake/shoplake/shared/model"
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
		{kind: connect.Shopify, fault: "bulk-expired", wantErr: "shopify bulk operation did not complete"},
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
			if strings.Contains(r.stdout+r.stderr, "shpat_wrong_token") || strings.Contains(r.stdout+r.stderr, localWooSecret) {
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

// storeChange is a store the test changes between two runs: its handler,
// the key to read it with, and the change.
type storeChange struct {
	kind, key string
	api       http.Handler
	served    func() int64
	change    func(t *testing.T, at time.Time)
	// read is what the second run reads from the store, when the case
	// counts it (0: not counted).
	read int64
	// checks are queries of the marts after the second run, each with the
	// one value it must give.
	checks [][2]string
}

// wooChange trashes order 2 and product 3, deletes order 7 and product 20
// for good, and adds a guest's order 999 of 0.10 × 2 + 0.20.
func wooChange(t *testing.T) storeChange {
	data, err := wooapi.FromFakeStore()
	if err != nil {
		t.Fatal(err)
	}
	api := wooapi.NewServer(wooapi.Config{ConsumerKey: "ck_test", ConsumerSecret: "cs_test"}, data)
	return storeChange{kind: connect.WooCommerce, key: "ck_test:cs_test", api: api, served: api.Served,
		change: func(t *testing.T, at time.Time) {
			if err := errors.Join(api.Trash("orders", 2, at), api.Trash("products", 3, at)); err != nil {
				t.Fatal(err)
			}
			api.Remove("orders", 7)
			api.Put("orders", wooapi.Order(999, 0, "processing", at,
				wooapi.OrderLine{ProductID: 1, Quantity: 2, Price: "0.10"}, wooapi.OrderLine{ProductID: 2, Quantity: 1, Price: "0.20"}))
			api.Remove("products", 20)
		},
		// The 10 customers whole (the API has no filter); the products and
		// orders modified since their cursors less the lookback: the 19
		// products left (the fixture's were all modified at one instant, so
		// the lookback reads them again, to be dropped as repeats), and 3
		// orders (the trashed one, the guest's, and the newest of the
		// fixture's, within the lookback); then the ids of both for the
		// reconcile (19 products, 7 orders); then the poll's orders modified
		// since the new cursor less the lookback (the trashed one and the
		// guest's, dropped as repeats of what the snapshot holds).
		read: 10 + 19 + 3 + 19 + 7 + 2,
		checks: [][2]string{
			{`select string_agg(order_id || ' ' || is_deleted, ', ' order by order_id) from bq_analytics.fact_orders where order_id in ('2', '7', '999')`,
				"2 true, 7 true, 999 false"},
			{`select u.user_id || ' ' || u.is_guest || ' ' || o.revenue from bq_analytics.fact_orders o join bq_analytics.dim_users u using (user_key) where o.order_id = '999'`,
				"guest true 0.400000000"},
			{`select string_agg(product_id || ' ' || is_deleted, ', ' order by product_id) from bq_analytics.dim_products where product_id in ('1', '20', '3')`,
				"1 false, 20 true, 3 true"},
		}}
}

// tenAndTwenty are the lines of the orders the store tests add: product 1
// at 0.10 × 2 and product 2 at 0.20.
var tenAndTwenty = []shopifyapi.OrderLine{{ProductID: 1, Quantity: 2, Price: "0.10"}, {ProductID: 2, Quantity: 1, Price: "0.20"}}

// shopifyChange deletes order 7 and product 20, and adds a guest's order
// 999 of 0.10 × 2 + 0.20.
func shopifyChange(t *testing.T) storeChange {
	data, err := shopifyapi.FromFakeStore()
	if err != nil {
		t.Fatal(err)
	}
	api := shopifyapi.NewServer(shopifyapi.Config{Token: "shpat_test"}, data)
	return storeChange{kind: connect.Shopify, key: "shpat_test", api: api, served: api.Served,
		change: func(t *testing.T, at time.Time) {
			api.Delete("orders", shopifyapi.SyntheticID("Order", 6), at)
			api.Delete("products", shopifyapi.SyntheticID("Product", 19), at)
			api.Upsert("orders", shopifyapi.Order(999, 0, at, at, tenAndTwenty...))
		},
		checks: [][2]string{
			{`select string_agg(order_id || ' ' || is_deleted, ', ' order by order_id) from bq_analytics.fact_orders where order_id in ('gid://shopify/Order/7', 'gid://shopify/Order/999')`,
				"gid://shopify/Order/7 true, gid://shopify/Order/999 false"},
			{`select u.user_id || ' ' || u.is_guest || ' ' || o.revenue from bq_analytics.fact_orders o join bq_analytics.dim_users u using (user_key) where o.order_id = 'gid://shopify/Order/999'`,
				"guest true 0.400000000"},
			{`select string_agg(product_id || ' ' || is_deleted, ', ' order by product_id) from bq_analytics.dim_products where product_id in ('gid://shopify/Product/1', 'gid://shopify/Product/20')`,
				"gid://shopify/Product/1 false, gid://shopify/Product/20 true"},
		}}
}

// TestStoreDeletionsReachTheMarts: against a store that changes between
// two runs of one day (SOURCE_BASE_URL), the second run reads only what
// changed and the marts follow: an order and a product deleted for good
// (and, in WooCommerce, trashed) are deletions in fact_orders and
// dim_products, and a guest's order lands with the guest customer, its
// revenue exact (0.10 × 2 + 0.20). The records deleted for good lived only
// in the day's first snapshot, which the second replaces: they are
// tombstones in it, not merely absent.
func TestStoreDeletionsReachTheMarts(t *testing.T) {
	t.Parallel()
	if testing.Short() || len(dbtArgs()) == 0 {
		t.Skip("runs the pipeline with dbt")
	}
	for _, store := range []func(*testing.T) storeChange{wooChange, shopifyChange} {
		sc := store(t)
		t.Run(sc.kind, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(sc.api)
			defer srv.Close()
			dir := t.TempDir()
			env := []string{"SOURCE_BASE_URL=" + srv.URL, "SOURCE_API_KEY=" + sc.key}
			args := append([]string{"--port", "0", "--source", sc.kind}, dbtArgs()...)
			if r := runLocal(t, dir, env, args...); r.code != 0 {
				t.Fatalf("first run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			served := sc.served()
			sc.change(t, time.Now().UTC().Add(-time.Minute).Truncate(time.Second))
			if r := runLocal(t, dir, env, args...); r.code != 0 {
				log, _ := os.ReadFile(filepath.Join(dir, "logs", "dbt.log"))
				t.Fatalf("second run: exit %d\n%s\n%s\ndbt.log:\n%s", r.code, r.stdout, r.stderr, log[max(0, len(log)-6000):])
			}
			if got := sc.served() - served; sc.read != 0 && got != sc.read {
				t.Errorf("the second run read %d records from the store, want %d", got, sc.read)
			}
			db := openWarehouse(t, dir)
			defer db.Close()
			for _, c := range sc.checks {
				var got string
				if err := db.QueryRow(c[0]).Scan(&got); err != nil {
					t.Fatalf("%s: %v", c[0], err)
				}
				if got != c[1] {
					t.Errorf("%s\n= %q, want %q", c[0], got, c[1])
				}
			}
		})
	}
}

// TestStoreOrdersArePolledBetweenSnapshots: against a Shopify store whose
// orders change after the day's snapshot was taken (during the first of two
// polls), the second poll publishes them as order events and the marts
// follow at once, before any snapshot lists them: a guest's new order of
// 0.10 × 2 + 0.20 and a changed order, money exact. A second run, whose
// snapshot lists both, changes nothing in the marts.
func TestStoreOrdersArePolledBetweenSnapshots(t *testing.T) {
	t.Parallel()
	if testing.Short() || len(dbtArgs()) == 0 {
		t.Skip("runs the pipeline with dbt")
	}
	data, err := shopifyapi.FromFakeStore()
	if err != nil {
		t.Fatal(err)
	}
	api := shopifyapi.NewServer(shopifyapi.Config{Token: "shpat_test"}, data)
	var checkouts atomic.Int64
	api.OnRequest(func(op string, _ map[string]any, _ int) *shopifyapi.Fault {
		// The snapshot lists the checkouts once, then each poll does: the
		// change lands during the first poll, after its orders were read.
		if op == "AbandonedCheckouts" && checkouts.Add(1) == 2 {
			at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
			api.Upsert("orders", shopifyapi.Order(999, 0, at, at, tenAndTwenty...))
			api.Upsert("orders", shopifyapi.Order(7, 4, time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC), at, tenAndTwenty...))
		}
		return nil
	})
	srv := httptest.NewServer(api)
	defer srv.Close()
	dir := t.TempDir()
	env := []string{"SOURCE_BASE_URL=" + srv.URL, "SOURCE_API_KEY=shpat_test"}
	args := append([]string{"--port", "0", "--source", connect.Shopify, "--poll-every", "100ms", "--polls", "2"}, dbtArgs()...)
	checks := [][2]string{
		{`select string_agg(order_id || ' ' || item_count || ' ' || revenue || ' ' || is_deleted, ', ' order by order_id) from bq_analytics.fact_orders where order_id in ('gid://shopify/Order/7', 'gid://shopify/Order/999')`,
			"gid://shopify/Order/7 2 0.400000000 false, gid://shopify/Order/999 2 0.400000000 false"},
		{`select u.user_id || ' ' || u.is_guest from bq_analytics.fact_orders o join bq_analytics.dim_users u using (user_key) where o.order_id = 'gid://shopify/Order/999'`,
			"guest true"},
		{`select count(*) || ' orders, revenue ' || sum(revenue) from bq_analytics.fact_orders where not is_deleted`,
			"8 orders, revenue 4682.220000000"},
	}
	for run, want := range []struct {
		events       string // the order events stored in bq_raw.cart_events
		inSnapshot   bool   // the lake's snapshot lists order 999
		pollsPublish string // what the polls of the run published
	}{
		{events: "2", inSnapshot: false, pollsPublish: "0 2"},
		{events: "2", inSnapshot: true, pollsPublish: "0 0"},
	} {
		r := runLocal(t, dir, env, args...)
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\n%s\n%s", run+1, r.code, r.stdout, r.stderr)
		}
		s := lastRun(t, dir)
		var published []string
		for _, p := range s.Polls {
			published = append(published, fmt.Sprint(p.Poll.Published))
		}
		if got := strings.Join(published, " "); got != want.pollsPublish {
			t.Errorf("run %d: the polls published %s events, want %s", run+1, got, want.pollsPublish)
		}
		snapshot, err := os.ReadFile(filepath.Join(dir, "gcs", names.Bucket, "raw", model.CanonicalOrders, "dt="+time.Now().UTC().Format(time.DateOnly), model.CanonicalOrders+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(snapshot), "gid://shopify/Order/999"); got != want.inSnapshot {
			t.Errorf("run %d: the snapshot lists order 999: %v, want %v", run+1, got, want.inSnapshot)
		}
		db := openWarehouse(t, dir)
		for _, c := range append(checks, [2]string{`select count(distinct event_id) from bq_raw.cart_events where event_type like 'order.%'`, want.events}) {
			var got string
			if err := db.QueryRow(c[0]).Scan(&got); err != nil {
				t.Fatalf("%s: %v", c[0], err)
			}
			if got != c[1] {
				t.Errorf("run %d: %s\n= %q, want %q", run+1, c[0], got, c[1])
			}
		}
		db.Close()
	}
}
