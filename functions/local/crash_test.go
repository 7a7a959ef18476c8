package main

import (
	"bufio"
	"cmp"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/queue"
)

// crashScale is the synthetic catalogue of the crash suite: large enough for
// delivery to print progress before it ends. SHOPLAKE_CRASH_SCALE sets
// another (make bench runs the suite at 100000).
var crashScale = cmp.Or(os.Getenv("SHOPLAKE_CRASH_SCALE"), "20000")

// martFigures are what a run must reproduce: the facts' row counts and the
// revenue of live orders, and the figures of the marts built on them (daily
// sales, cart sessions, each customer's orders).
func martFigures(t *testing.T, dir string) string {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(dir, "warehouse.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var figures string
	err = db.QueryRow(`select concat_ws(', ',
		'fact_orders ' || (select count(*) from bq_analytics.fact_orders),
		'fact_order_items ' || (select count(*) from bq_analytics.fact_order_items),
		'revenue ' || coalesce((select cast(sum(revenue) as decimal(18, 2))::varchar from bq_analytics.fact_orders where not is_deleted), 'none'),
		'daily sales ' || coalesce((select cast(sum(revenue) as decimal(18, 2))::varchar || ' over ' || sum(units) || ' units' from bq_analytics.fact_daily_product_sales), 'none'),
		'cart sessions ' || (select string_agg(outcome || ' ' || n, ' ' order by outcome) from (select outcome, count(*) as n from bq_analytics.fact_cart_sessions group by outcome)),
		'customers ' || coalesce((select sum(order_count) || ' orders, ' || cast(sum(lifetime_revenue) as decimal(18, 2))::varchar from bq_analytics.dim_users), 'none'))`).Scan(&figures)
	if err != nil {
		t.Fatal(err)
	}
	return figures
}

// archivedEvents counts the distinct event ids in the lake's event archive
// and in bq_raw.cart_events.
func archivedEvents(t *testing.T, dir string) (archive, raw int64) {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(dir, "warehouse.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	glob := filepath.Join(dir, "gcs", names.Bucket, "raw", "cart_events", "*", "*.jsonl")
	q := fmt.Sprintf(`select (select count(distinct event_id) from read_json(%s, format = 'newline_delimited', columns = {event_id: 'varchar'})),
		(select count(distinct event_id) from bq_raw.cart_events)`, "'"+glob+"'")
	if err := db.QueryRow(q).Scan(&archive, &raw); err != nil {
		t.Fatal(err)
	}
	return archive, raw
}

// killAt starts a run in its own process group, waits until its output
// shows marker, and kills the whole group with SIGKILL.
func killAt(t *testing.T, dir, marker string, args ...string) {
	t.Helper()
	cmd := runnerCmd(t, append([]string{"--dir", dir, "--port", "0", "--scale", crashScale}, append(dbtArgs(), args...)...)...)
	cmd.Env = append(cmd.Env, "SHOPLAKE_PROGRESS_EVERY=200ms")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{})
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), marker) {
				once.Do(func() { close(seen) })
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-seen:
	case <-time.After(5 * time.Minute):
		t.Fatalf("the run never printed %q", marker)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// loseUndeliveredEvents deletes the Pub/Sub backlog a killed run left. When
// the kill came after every event was delivered, it loses the newest
// carts' events from the warehouse instead, so that PollCarts' state still
// holds events the warehouse lacks and the rerun must realign them.
func loseUndeliveredEvents(t *testing.T, dir string) {
	t.Helper()
	q, err := queue.Open(filepath.Join(dir, "pubsub", names.Subscription))
	if err != nil {
		t.Fatal(err)
	}
	pending, err := q.HasPending()
	q.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "pubsub")); err != nil {
		t.Fatal(err)
	}
	if !pending {
		loseNewestCarts(t, dir, 5)
	}
}

// TestRunsConvergeAfterACrashAtEachPhase kills the runner's whole process
// group with SIGKILL at each phase, runs again, and expects the marts of a
// clean run of the same input; the lake's archive holds every event in raw.
func TestRunsConvergeAfterACrashAtEachPhase(t *testing.T) {
	if os.Getenv("SHOPLAKE_DBT") == "" {
		t.Skip("needs dbt (make test provides it)")
	}
	t.Parallel()
	clean := t.TempDir()
	if r := runLocal(t, clean, nil, append([]string{"--port", "0", "--scale", crashScale}, dbtArgs()...)...); r.code != 0 {
		t.Fatalf("clean run: exit %d: %s", r.code, r.stderr)
	}
	want := martFigures(t, clean)

	phases := []struct {
		name, marker string
		// damage, when set, acts on what the killed run left.
		damage func(t *testing.T, dir string)
		// realigned says the rerun must find PollCarts' state ahead of the
		// warehouse and publish the difference again.
		realigned bool
	}{
		{name: "during ingest", marker: "Cloud Scheduler → IngestBatch"},
		{name: "during load", marker: "Eventarc (Cloud Storage) → LoadRawObject"},
		{name: "as the poll starts", marker: "Cloud Scheduler → PollCarts"},
		// The delivery follows the poll as it publishes.
		{name: "during poll and delivery", marker: "… delivered"},
		{name: "after the poll, while its last events are delivered", marker: "  fetched "},
		{
			// The poll committed its state: the lost events are found by
			// the cart audit and published again.
			name: "after the poll, then its undelivered events deleted", marker: "  fetched ",
			damage:    loseUndeliveredEvents,
			realigned: true,
		},
		{name: "during dbt", marker: "dbt build (local target)"},
	}
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			dir := t.TempDir()
			killAt(t, dir, ph.marker)
			if ph.damage != nil {
				ph.damage(t, dir)
			}
			r := runLocal(t, dir, nil, append([]string{"--port", "0", "--scale", crashScale}, dbtArgs()...)...)
			if r.code != 0 {
				t.Fatalf("rerun after a kill %s: exit %d: %s\n%s", ph.name, r.code, r.stderr, r.stdout)
			}
			if got := martFigures(t, dir); got != want {
				t.Errorf("after a kill %s: %s; a clean run has %s", ph.name, got, want)
			}
			if ph.realigned && !lastRun(t, dir).Carts.Realigned {
				t.Errorf("after a kill %s: the rerun did not realign PollCarts' state with the warehouse", ph.name)
			}
			if archive, raw := archivedEvents(t, dir); archive != raw {
				t.Errorf("after a kill %s: %d distinct events archived, %d in bq_raw.cart_events", ph.name, archive, raw)
			}
		})
	}

	t.Run("warehouse deleted", func(t *testing.T) {
		for _, f := range []string{"warehouse.duckdb", "warehouse.duckdb.wal"} {
			os.Remove(filepath.Join(clean, f))
		}
		r := runLocal(t, clean, nil, append([]string{"--port", "0", "--scale", crashScale}, dbtArgs()...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "rebuilding it from the lake") {
			t.Fatalf("exit %d, stdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if got := martFigures(t, clean); got != want {
			t.Errorf("rebuilt from the lake: %s; before: %s", got, want)
		}
		if archive, raw := archivedEvents(t, clean); archive != raw {
			t.Errorf("%d distinct events archived, %d in bq_raw.cart_events", archive, raw)
		}
	})
}

// TestStoreRunsConvergeAfterACrashAtEachPhase: a run of a Shopify store
// (its snapshots of products through a bulk export, customers and orders)
// killed at each of its phases is repaired by the next plain run, to the
// marts of a clean run. Its catalogue is smaller than the cart suite's: a
// store run has no poll or stream to interrupt, and the kill comes as soon
// as each phase starts.
func TestStoreRunsConvergeAfterACrashAtEachPhase(t *testing.T) {
	if os.Getenv("SHOPLAKE_DBT") == "" {
		t.Skip("needs dbt (make test provides it)")
	}
	t.Parallel()
	args := []string{"--source", "shopify", "--scale", storeCrashScale}
	clean := t.TempDir()
	if r := runLocal(t, clean, nil, append(append([]string{"--port", "0"}, args...), dbtArgs()...)...); r.code != 0 {
		t.Fatalf("clean run: exit %d: %s", r.code, r.stderr)
	}
	want := martFigures(t, clean)
	for _, ph := range []struct{ name, marker string }{
		{"during ingest", "Cloud Scheduler → IngestBatch"},
		{"during load", "Eventarc (Cloud Storage) → LoadRawObject"},
		{"during dbt", "dbt build (local target)"},
	} {
		t.Run(ph.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			killAt(t, dir, ph.marker, args...)
			r := runLocal(t, dir, nil, append(append([]string{"--port", "0"}, args...), dbtArgs()...)...)
			if r.code != 0 {
				t.Fatalf("rerun after a kill %s: exit %d: %s\n%s", ph.name, r.code, r.stderr, r.stdout)
			}
			if got := martFigures(t, dir); got != want {
				t.Errorf("after a kill %s: %s; a clean run has %s", ph.name, got, want)
			}
		})
	}
}

// storeCrashScale is the store crash suite's synthetic catalogue.
var storeCrashScale = cmp.Or(os.Getenv("SHOPLAKE_STORE_CRASH_SCALE"), "5000")

// loseNewestCarts deletes every event of the n carts published last from
// bq_raw.cart_events, as a delivery that never happened would leave it.
func loseNewestCarts(t *testing.T, dir string, n int) {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	res, err := db.Exec(fmt.Sprintf(`delete from bq_raw.cart_events where cart_id in (
		select cart_id from bq_raw.cart_events where cart_id is not null group by cart_id order by max(published_at) desc limit %d)`, n))
	if err != nil {
		t.Fatal(err)
	}
	if lost, _ := res.RowsAffected(); lost == 0 {
		t.Fatal("no cart event to lose: the killed run delivered none")
	}
}
