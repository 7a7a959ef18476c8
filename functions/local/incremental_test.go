package main

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/go-cmp/cmp"
)

// TestIncrementalMartsFollowSourceChanges changes carts at the source between
// runs and checks the incremental facts: a new quantity, a cart that lost
// lines, a deleted cart, a cart that changed date, an order ahead of its
// product's and customer's snapshots, values out of bounds; and that a full
// refresh gives the same live rows. Each step builds on the one before.
func TestIncrementalMartsFollowSourceChanges(t *testing.T) {
	dbt := os.Getenv("SHOPLAKE_DBT")
	if dbt == "" {
		t.Skip("SHOPLAKE_DBT is not set (make test sets it)")
	}
	t.Parallel()
	api, url := newMutableAPI(t)
	sc := &incremental{t: t, api: api, url: url, dir: t.TempDir()}
	sc.run("first run")
	sc.linesChange()
	sc.cartDeleted()
	sc.cartMovesDate()
	sc.orderBeforeItsDimensions()
	sc.valuesOutOfBoundsQuarantined()
	sc.matchesAFullRefresh(dbt)
}

// incremental is the scenario of TestIncrementalMartsFollowSourceChanges:
// one run directory, read from a FakeStore API the test changes.
type incremental struct {
	t   *testing.T
	api *mutableAPI
	url string
	dir string
}

// run runs the pipeline and expects it to build the marts.
func (sc *incremental) run(step string) {
	t := sc.t
	t.Helper()
	r := runLocal(t, sc.dir, []string{"SOURCE_BASE_URL=" + sc.url}, append([]string{"--port", "0"}, dbtArgs()...)...)
	if r.code != 0 {
		log, _ := os.ReadFile(filepath.Join(sc.dir, "logs", "dbt.log"))
		t.Fatalf("%s: exit %d\n%s\n%s\ndbt.log:\n%s", step, r.code, r.stdout, r.stderr, log[max(0, len(log)-6000):])
	}
	if s := lastRun(t, sc.dir); s.DBT.Status != "built" {
		t.Fatalf("%s: dbt %+v", step, s.DBT)
	}
}

// query returns q's rows, each as its values printed with spaces.
func (sc *incremental) query(q string) (out []string) {
	t := sc.t
	t.Helper()
	db := openWarehouse(t, sc.dir)
	defer db.Close()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	return out
}

// expect checks that q returns exactly the rows want.
func (sc *incremental) expect(what, q string, want ...string) {
	sc.t.Helper()
	if got := sc.query(q); !cmp.Equal(got, want) {
		sc.t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// product1Sales is product 1's sales (units, revenue) on 2020-03-02, the
// date of cart 1 only.
const product1Sales = "select s.units, s.revenue::double from bq_analytics.fact_daily_product_sales s join bq_analytics.dim_products p using (product_key) where p.product_id = '1' and s.order_date = date '2020-03-02'"

// linesChange: cart 1 (4 × product 1, 1 × product 2, 6 × product 3) loses
// two lines, and cart 2 changes a quantity.
func (sc *incremental) linesChange() {
	sc.api.update(func(c []map[string]any) []map[string]any {
		c[0]["products"] = c[0]["products"].([]any)[:1] // keep 4 × product 1 only
		c[1]["products"].([]any)[0].(map[string]any)["quantity"] = 1
		return c
	})
	sc.run("cart 1 lost two lines, cart 2 changed a quantity")
	sc.expect("product 1's sales of 2020-03-02 (units, revenue)", product1Sales, "4 439.8")
	sc.expect("cart 1's order (lines, units)", "select item_count, total_quantity from bq_analytics.fact_orders where cart_id = 1", "1 4")
	sc.expect("cart 1's lines (removed, live, revenue)",
		"select count(*) filter (where is_removed), count(*) filter (where not is_removed), sum(line_revenue)::double from bq_analytics.fact_order_items where cart_id = 1",
		"2 1 439.8")
}

// cartDeleted: cart 1, the only order of 2020-03-02, is deleted: its
// product 1 sold nothing that day any more, and its session ended
// abandoned, with its value.
func (sc *incremental) cartDeleted() {
	sc.api.update(func(c []map[string]any) []map[string]any { return c[1:] })
	sc.run("cart 1 deleted")
	sc.expect("cart 1's is_deleted", "select is_deleted from bq_analytics.fact_orders where cart_id = 1", "true")
	sc.expect("product 1's sales of 2020-03-02 once cart 1 is deleted", product1Sales, "0 0")
	sc.expect("cart 1's session (outcome, abandoned value, time to order)",
		"select concat_ws(' ', outcome, abandoned_value::double, coalesce(time_to_order_seconds::varchar, 'null')) from bq_analytics.fact_cart_sessions where order_id = '1'",
		"abandoned 439.8 null")
}

// cartMovesDate: cart 2 moves to another order date. On BigQuery its fact
// rows move to another partition, so the cart keeps both dates for the
// merges to touch.
func (sc *incremental) cartMovesDate() {
	t := sc.t
	before := sc.query("select order_date from bq_analytics.fact_orders where cart_id = 2")
	sc.api.update(func(c []map[string]any) []map[string]any {
		c[0]["date"] = "2021-07-04T00:00:00.000Z"
		return c
	})
	sc.run("cart 2 moved to another date")
	if got := sc.query("select order_date, (select count(*) from bq_analytics.fact_order_items i where i.cart_id = 2 and i.order_date != o.order_date) from bq_analytics.fact_orders o where cart_id = 2"); len(got) != 1 || !strings.HasPrefix(got[0], "2021-07-04") || !strings.HasSuffix(got[0], " 0") {
		t.Errorf("cart 2 order (date, items on another date) = %v, want one order on 2021-07-04 and every item with it", got)
	}
	sc.expect("cart 2's order_dates", "select order_dates::varchar from bq_staging.int_carts_latest where cart_id = 2",
		"["+strings.Fields(before[0])[0]+", 2021-07-04]")
}

// orderBeforeItsDimensions: cart 8 arrives before its product (21) and its
// customer (11) are in any snapshot: both are inferred members, and its
// line of product 21 is unpriced; the next snapshots fill them in and price
// it.
func (sc *incremental) orderBeforeItsDimensions() {
	t := sc.t
	const members = `select 'product', cast(product_id as bigint), is_inferred, product_title is null from bq_analytics.dim_products where product_id = '21'
		union all select 'user', cast(user_id as bigint), is_inferred, email_hash is null from bq_analytics.dim_users where user_id = '11' order by 1`
	const cart8 = "select revenue::double, unpriced_item_count from bq_analytics.fact_orders where cart_id = 8"
	sc.api.update(func(c []map[string]any) []map[string]any {
		return append(c, map[string]any{"id": 8, "userId": 11, "date": "2020-03-02T00:00:00.000Z",
			"products": []any{map[string]any{"productId": 21, "quantity": 2}, map[string]any{"productId": 1, "quantity": 1}}})
	})
	sc.run("an order before its product and its customer")
	if s := lastRun(t, sc.dir); s.DBT.UnpricedLines != 1 {
		t.Errorf("unpriced lines in the summary = %d, want 1", s.DBT.UnpricedLines)
	}
	sc.expect("the inferred members of product 21 and user 11", members, "product21 true true", "user11 true true")
	sc.expect("cart 8 (revenue of the priced line, unpriced lines)", cart8, "109.95 1")

	sc.api.updateEntity("products", func(p []map[string]any) []map[string]any {
		return append(p, map[string]any{"id": 21, "title": "Late arrival", "price": 10, "description": "d", "category": "c",
			"image": "https://fakestoreapi.com/img/21.jpg", "rating": map[string]any{"rate": 4, "count": 1}})
	})
	sc.api.updateEntity("users", func(u []map[string]any) []map[string]any {
		v := maps.Clone(u[0])
		v["id"], v["email"], v["username"] = 11, "late@example.com", "late"
		return append(u, v)
	})
	sc.run("the product and the customer arrive")
	if s := lastRun(t, sc.dir); s.DBT.UnpricedLines != 0 {
		t.Errorf("unpriced lines in the summary = %d, want 0", s.DBT.UnpricedLines)
	}
	sc.expect("product 21 and user 11 once filled in", members, "product21 false false", "user11 false false")
	sc.expect("cart 8 (revenue, unpriced lines) with every line priced", cart8, "129.95 0")
}

// valuesOutOfBoundsQuarantined: a price and a quantity beyond what the
// money columns can sum are quarantined (they used to fail every build of
// the marts), so the raw tables do not change and dbt has nothing to build.
func (sc *incremental) valuesOutOfBoundsQuarantined() {
	t := sc.t
	sc.api.updateEntity("products", func(p []map[string]any) []map[string]any {
		v := maps.Clone(p[len(p)-1])
		v["id"], v["price"] = 22, 2e15
		return append(p, v)
	})
	sc.api.update(func(c []map[string]any) []map[string]any {
		c[len(c)-1]["products"] = []any{map[string]any{"productId": 21, "quantity": 1e13}}
		return c
	})
	if r := runLocal(t, sc.dir, []string{"SOURCE_BASE_URL=" + sc.url}, append([]string{"--port", "0"}, dbtArgs()...)...); r.code != 0 {
		t.Fatalf("a price and a quantity out of bounds: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s := lastRun(t, sc.dir); s.Ingest.Entities[0].Rejected != 1 || s.Polls[0].Poll.Rejected != 1 || s.DBT.Status != "skipped" {
		t.Errorf("rejected: products %d, carts %d, dbt %s; want 1 each and nothing to build",
			s.Ingest.Entities[0].Rejected, s.Polls[0].Poll.Rejected, s.DBT.Status)
	}
	sc.expect("product 22 in dim_products", "select count(*) from bq_analytics.dim_products where product_id = '22'", "0")
	sc.expect("cart 8's revenue, as before the rejected change", "select revenue::double from bq_analytics.fact_orders where cart_id = 8", "129.95")
}

// fullRefreshCompared are what an incremental build must leave as a full
// refresh does: the live facts, the state behind them (the folded cart
// states and the events), and the marts analysts query (the days' sales
// that are not zero: an incremental run keeps a product's day at zero when
// its lines were removed, lines a full refresh never sees; every session;
// the customers' order histories).
var fullRefreshCompared = []struct{ name, query string }{
	{"fact_orders", `select cart_id, item_count, total_quantity, revenue::double, unpriced_item_count, is_deleted from bq_analytics.fact_orders order by cart_id`},
	{"fact_order_items", `select order_item_key, quantity, unit_price::double, is_deleted from bq_analytics.fact_order_items where not is_removed order by 1`},
	{"int_carts_latest", `select cart_id, upsert_event_id, upsert_published_at, user_id, cart_date, lines::varchar, is_deleted,
			last_event_id, last_event_at, order_dates::varchar from bq_staging.int_carts_latest order by cart_id`},
	{"stg_cart_events", `select event_id, published_date, published_at, ingested_at from bq_staging.stg_cart_events order by all`},
	{"fact_daily_product_sales", `select daily_product_sales_key, order_date, product_key, currency, order_count, units, revenue from bq_analytics.fact_daily_product_sales
			where units != 0 or revenue != 0 or order_count != 0 order by all`},
	{"fact_cart_sessions", `select * from bq_analytics.fact_cart_sessions order by all`},
	{"dim_users' order history", `select user_id, first_order_date, last_order_date, cohort_month, order_count, lifetime_revenue from bq_analytics.dim_users order by all`},
}

// matchesAFullRefresh rebuilds the marts from scratch with dbt and
// compares them with what the incremental runs left.
func (sc *incremental) matchesAFullRefresh(dbt string) {
	t := sc.t
	incremental := make([][]string, len(fullRefreshCompared))
	for i, c := range fullRefreshCompared {
		incremental[i] = sc.query(c.query)
	}
	cmd := exec.Command(dbt, "build", "--full-refresh", "--target", "local", "--project-dir", "../../dbt", "--profiles-dir", "../../dbt",
		"--target-path", filepath.Join(sc.dir, "dbt", "target"), "--log-path", filepath.Join(sc.dir, "dbt", "logs"))
	cmd.Env = append(os.Environ(), "SHOPLAKE_DUCKDB_PATH="+filepath.Join(sc.dir, "warehouse.duckdb"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dbt build --full-refresh: %v\n%s", err, out)
	}
	for i, c := range fullRefreshCompared {
		if diff := cmp.Diff(incremental[i], sc.query(c.query)); diff != "" {
			t.Errorf("%s: incremental differs from a full refresh (-incremental +full):\n%s", c.name, diff)
		}
	}
}
