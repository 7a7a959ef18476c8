package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/state"
)

func TestAuditCarts(t *testing.T) {
	t.Parallel()
	e := func(id int64, fp model.Fingerprint) state.Entry {
		return state.Entry{CartID: id, Fingerprint: fp, Day: 19000}
	}
	quarantined := model.CartEventID(4, 40)
	cases := []struct {
		name        string
		state, live []state.Entry
		want        CartAudit
		wantNext    []state.Entry
	}{
		{name: "nothing yet", want: CartAudit{}, wantNext: []state.Entry{}},
		{
			name:  "agree",
			state: []state.Entry{e(1, 10), e(2, 20)}, live: []state.Entry{e(1, 10), e(2, 20)},
			want:     CartAudit{State: 2, Live: 2},
			wantNext: []state.Entry{e(1, 10), e(2, 20)},
		},
		{
			name:  "events lost: none held, an older version held",
			state: []state.Entry{e(1, 10), e(2, 21), e(3, 30)}, live: []state.Entry{e(2, 20), e(3, 30)},
			want:     CartAudit{State: 3, Live: 2, Missing: 1, Differ: 1, Examples: []int64{1, 2}},
			wantNext: []state.Entry{e(2, 20), e(3, 30)},
		},
		{
			name:  "state lost",
			state: nil, live: []state.Entry{e(1, 10), e(2, 20)},
			want:     CartAudit{Live: 2, Stray: 2, Examples: []int64{1, 2}},
			wantNext: []state.Entry{e(1, 10), e(2, 20)},
		},
		{
			name:  "a quarantined version is accounted for",
			state: []state.Entry{e(3, 30), e(4, 40)}, live: []state.Entry{e(3, 30), e(4, 39)},
			want:     CartAudit{State: 2, Live: 2, Quarantined: 1},
			wantNext: []state.Entry{e(3, 30), e(4, 40)},
		},
		{
			name:     "at most five examples",
			state:    []state.Entry{e(1, 1), e(2, 2), e(3, 3), e(4, 4), e(5, 5), e(6, 6), e(7, 7)},
			want:     CartAudit{State: 7, Missing: 7, Examples: []int64{1, 2, 3, 4, 5}},
			wantNext: []state.Entry{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, next := auditCarts(tc.state, tc.live, func(id string) bool { return id == quarantined })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantNext, next); diff != "" {
				t.Errorf("state that follows the warehouse (-want +got):\n%s", diff)
			}
			if got.Agrees() != (tc.want.Missing == 0 && tc.want.Differ == 0 && tc.want.Stray == 0) {
				t.Errorf("Agrees() = %v", got.Agrees())
			}
		})
	}
}

// warehouseLiveCarts is what the marts show of the carts: the live carts of
// bq_raw.cart_events, with their fingerprints.
func warehouseLiveCarts(t *testing.T, dir string) []state.Entry {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	live, err := liveCarts(t.Context(), db, RawDataset)
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
		if err := os.Remove(filepath.Join(dir, "gcs", Bucket, StateObject)); err != nil {
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
				if err := os.RemoveAll(filepath.Join(dir, "gcs", Bucket, "raw", "cart_events")); err != nil {
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
			r := runLocal(t, dir, nil, append([]string{"--port", "0"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.wantSaid) {
				t.Errorf("the run did not say %q:\n%s", tc.wantSaid, r.stdout)
			}
			s := lastRun(t, dir)
			if p := s.Polls[0].Poll; p.Published != tc.wantPublished {
				t.Errorf("poll %+v, want %d events published", p, tc.wantPublished)
			}
			if !s.Carts.Realigned || !s.Carts.Agrees() {
				t.Errorf("cart audit %+v, want realigned, then agreeing", s.Carts)
			}
			if diff := cmp.Diff(tc.wantLive, warehouseLiveCarts(t, dir)); diff != "" {
				t.Errorf("live carts (-as a run on undamaged files +repaired):\n%s", diff)
			}
			// Once repaired, the next run has nothing to repair or publish.
			if r := runLocal(t, dir, nil, append([]string{"--port", "0"}, tc.args...)...); r.code != 0 || strings.Contains(r.stdout, "cart state:") {
				t.Errorf("the run after the repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if p := lastRun(t, dir).Polls[0].Poll; p.Published != 0 {
				t.Errorf("the run after the repair published %d events", p.Published)
			}
		})
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
	if err := os.Remove(filepath.Join(dir, "gcs", Bucket, StateObject)); err != nil {
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
