package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/functions/local/wooapi"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/source/connect"
)

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
