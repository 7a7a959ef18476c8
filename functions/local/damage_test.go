package main

// Tests that damage what a run leaves (a file of the lake or of the run
// directory deleted or garbled, rows deleted from the warehouse) and expect
// the next plain run to repair it.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/internal/audit"
	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/state"
)

// warehouseLiveCarts is what the marts show of the carts: the live carts of
// bq_raw.cart_events, with their fingerprints.
func warehouseLiveCarts(t *testing.T, dir string) []state.Entry {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	live, err := audit.LiveCarts(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return live
}

// execWarehouse runs statements against a run directory's warehouse.
func execWarehouse(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestRunsRepairLostCartEvents damages what a clean run left (a file of the
// lake deleted, rows deleted from the warehouse) and expects the next plain
// run to show the carts the source holds, as a run on undamaged files does,
// and to say what it repaired.
func TestRunsRepairLostCartEvents(t *testing.T) {
	t.Parallel()
	base, _ := cleanBaseline(t)
	want := warehouseLiveCarts(t, base)
	if len(want) != 7 {
		t.Fatalf("the clean run holds %d live carts, want the fixtures' 7", len(want))
	}
	shrunk := copyDir(t, base)
	if r := runLocal(t, shrunk, nil, "--port", "0", "--source-fault", string(storefront.FaultShrink), "--allow-shrink"); r.code != 0 {
		t.Fatalf("reference run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantShrunk := warehouseLiveCarts(t, shrunk)

	removeState := func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, "gcs", names.Bucket, names.StateObject)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		args   []string
		// wantPublished is how many events the repairing poll publishes.
		wantPublished int64
		wantLive      []state.Entry
		wantSaid      string
	}{
		{
			name: "the lake's cart event archive deleted, then the warehouse rebuilt",
			damage: func(t *testing.T, dir string) {
				if err := os.RemoveAll(filepath.Join(dir, "gcs", names.Bucket, "raw", "cart_events")); err != nil {
					t.Fatal(err)
				}
			},
			args:          []string{"--rebuild"},
			wantPublished: 7, wantLive: want,
			wantSaid: "7 cart(s) PollCarts published are not live in the warehouse",
		},
		{
			name: "two carts' events deleted from the warehouse",
			damage: func(t *testing.T, dir string) {
				execWarehouse(t, dir, "delete from bq_raw.cart_events where cart_id in (2, 5)")
			},
			wantPublished: 2, wantLive: want,
			wantSaid: "2 cart(s) PollCarts published are not live in the warehouse (carts 2, 5)",
		},
		{
			name:          "the poller's state deleted",
			damage:        removeState,
			wantPublished: 0, wantLive: want,
			wantSaid: "7 cart(s) live in the warehouse are unknown to PollCarts' state",
		},
		{
			name:          "the poller's state deleted, then carts deleted at the source",
			damage:        removeState,
			args:          []string{"--source-fault", string(storefront.FaultShrink), "--allow-shrink"},
			wantPublished: 6, wantLive: wantShrunk,
			wantSaid: "7 cart(s) live in the warehouse are unknown to PollCarts' state",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := copyDir(t, base)
			tc.damage(t, dir)
			checkCartsRepaired(t, dir, tc.args, tc.wantSaid, tc.wantPublished, tc.wantLive)
		})
	}
}

// checkCartsRepaired runs the pipeline on a damaged run directory and
// checks that the run said what it repaired (wantSaid), published
// wantPublished events, realigned PollCarts' state and left wantLive live
// carts; and that the next run has nothing to repair or publish.
func checkCartsRepaired(t *testing.T, dir string, args []string, wantSaid string, wantPublished int64, wantLive []state.Entry) {
	t.Helper()
	r := runLocal(t, dir, nil, append([]string{"--port", "0"}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, wantSaid) {
		t.Errorf("the run did not say %q:\n%s", wantSaid, r.stdout)
	}
	s := lastRun(t, dir)
	if p := s.Polls[0].Poll; p.Published != wantPublished {
		t.Errorf("poll %+v, want %d events published", p, wantPublished)
	}
	if !s.Carts.Realigned || !s.Carts.Agrees() || s.NothingChanged {
		t.Errorf("cart audit %+v, nothing changed %v: want realigned, then agreeing, and the state rewritten", s.Carts, s.NothingChanged)
	}
	if diff := cmp.Diff(wantLive, warehouseLiveCarts(t, dir)); diff != "" {
		t.Errorf("live carts (-as a run on undamaged files +repaired):\n%s", diff)
	}
	// Once repaired, the next run has nothing to repair or publish.
	if r := runLocal(t, dir, nil, append([]string{"--port", "0"}, args...)...); r.code != 0 || strings.Contains(r.stdout, "cart state:") {
		t.Errorf("the run after the repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if p := lastRun(t, dir).Polls[0].Poll; p.Published != 0 {
		t.Errorf("the run after the repair published %d events", p.Published)
	}
}

// TestADeadLetteredEventFailsTheRunAndTheNextRunRepublishesIt: when the
// warehouse refuses the poll's events until they are dead-lettered, the run
// fails naming them; once it accepts them again, the next run publishes them
// again and the warehouse shows every cart.
func TestADeadLetteredEventFailsTheRunAndTheNextRunRepublishesIt(t *testing.T) {
	t.Parallel()
	base, _ := cleanBaseline(t)
	want := warehouseLiveCarts(t, base)
	dir := copyDir(t, base)
	// A warehouse that has none of the events (nor the poller a state), and
	// then refuses every insert: its cart_events is a view.
	if err := os.Remove(filepath.Join(dir, "gcs", names.Bucket, names.StateObject)); err != nil {
		t.Fatal(err)
	}
	execWarehouse(t, dir, "delete from bq_raw.cart_events",
		"alter table bq_raw.cart_events rename to cart_events_kept",
		"create view bq_raw.cart_events as select * from bq_raw.cart_events_kept")

	r := runLocal(t, dir, nil, "--port", "0")
	const said = "after the poll, 7 cart(s) PollCarts published are not live in the warehouse (carts 1, 2, 3, 4, 5); 1 message(s) were dead-lettered"
	if r.code != 1 || !strings.Contains(r.stderr, said) {
		t.Fatalf("exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", r.code, said, r.stdout, r.stderr)
	}
	if s := lastRun(t, dir); s.Status != "failed" || s.Carts.Missing != 7 {
		t.Errorf("summary status %q, carts %+v", s.Status, s.Carts)
	}

	execWarehouse(t, dir, "drop view bq_raw.cart_events", "alter table bq_raw.cart_events_kept rename to cart_events")
	r = runLocal(t, dir, nil, "--port", "0")
	if r.code != 0 {
		t.Fatalf("the next run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if p := lastRun(t, dir).Polls[0].Poll; p.New != 7 || p.Published != 7 {
		t.Errorf("the next run's poll %+v, want the 7 carts published again", p)
	}
	if diff := cmp.Diff(want, warehouseLiveCarts(t, dir)); diff != "" {
		t.Errorf("live carts (-clean run +repaired):\n%s", diff)
	}
}

// TestRunsReloadDamagedSnapshots: a raw snapshot partition that no longer
// holds what its load wrote is loaded again from the lake by the next run;
// one whose lake object is gone stops the run, naming it. The file in which
// the runner remembers what it delivered to LoadRawObject, garbled, is no
// reason to stop: every snapshot is delivered again, and LoadRawObject
// skips what it loaded.
func TestRunsReloadDamagedSnapshots(t *testing.T) {
	t.Parallel()
	base, clean := cleanBaseline(t)
	sqlDamage := func(stmts ...string) func(*testing.T, string) {
		return func(t *testing.T, dir string) { execWarehouse(t, dir, stmts...) }
	}
	cases := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantSay string
		wantErr string
	}{
		{
			name:    "rows deleted",
			damage:  sqlDamage("delete from bq_raw.users where id < 6"),
			wantSay: "snapshots: bq_raw.users dt=",
		},
		{
			name:    "table dropped",
			damage:  sqlDamage("drop table bq_raw.products"),
			wantSay: "snapshots: bq_raw.products dt=",
		},
		{
			name: "the delivery file garbled",
			damage: func(t *testing.T, dir string) {
				if err := os.WriteFile(emulation.RecordPath(dir), []byte(`{"raw/products/`), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantSay: "eventarc-delivered.json is unreadable",
		},
		{
			name: "rows deleted from a partition whose object the lake no longer holds",
			damage: sqlDamage(
				"update bq_raw._load_metadata set object_name = 'gs://shoplake-raw/raw/users/dt=2020-01-01/users.jsonl', partition_date = date '2020-01-01' where entity = 'users'",
				"update bq_raw.users set dt = date '2020-01-01'",
				"delete from bq_raw.users where id < 6",
			),
			wantErr: `bq_raw.users dt=2020-01-01 holds 5 rows where its load of gs://shoplake-raw/raw/users/dt=2020-01-01/users.jsonl recorded 10, and the lake no longer holds that object: "make run ARGS=--rebuild"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := copyDir(t, base)
			tc.damage(t, dir)
			r := runLocal(t, dir, nil, "--port", "0")
			if tc.wantErr != "" {
				if r.code != 1 || !strings.Contains(r.stderr, tc.wantErr) {
					t.Fatalf("exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", r.code, tc.wantErr, r.stdout, r.stderr)
				}
				return
			}
			if r.code != 0 || !strings.Contains(r.stdout, tc.wantSay) {
				t.Fatalf("exit %d, want 0 and %q\nstdout:\n%s\nstderr:\n%s", r.code, tc.wantSay, r.stdout, r.stderr)
			}
			if diff := cmp.Diff(clean, readRawState(t, dir)); diff != "" {
				t.Errorf("raw tables and lake (-clean run +repaired):\n%s", diff)
			}
			if r := runLocal(t, dir, nil, "--port", "0"); r.code != 0 || strings.Contains(r.stdout, "snapshots:") {
				t.Errorf("the run after the repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
