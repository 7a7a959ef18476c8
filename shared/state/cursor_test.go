package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/shared/lake/laketest"
)

// version is one update of a record: written at updated, visible to a
// listing only from visible on (a write that commits late).
type version struct {
	id               string
	updated, visible time.Time
}

// simulatedStore holds every version ever written.
type simulatedStore struct{ versions []version }

// list is what an incremental listing at now returns from from on: the
// latest visible version of each record, if updated after from.
func (s *simulatedStore) list(now, from time.Time) []version {
	latest := map[string]version{}
	for _, v := range s.versions {
		if !v.visible.After(now) && (latest[v.id].updated.IsZero() || v.updated.After(latest[v.id].updated)) {
			latest[v.id] = v
		}
	}
	var out []version
	for _, v := range latest {
		if v.updated.After(from) {
			out = append(out, v)
		}
	}
	return out
}

// runListings runs an incremental listing a minute for an hour over a store
// whose writes become visible up to lag late, with the given lookback, and
// returns how often each version was published and the versions never
// published that a listing could have seen as the latest.
func runListings(t *testing.T, lookback, lag time.Duration, crashBeforeCommit map[int]bool) (published map[version]int, missed []version) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	store := &simulatedStore{}
	var cur Cursor
	published = map[version]int{}
	for run := 1; run <= 60; run++ {
		now := start.Add(time.Duration(run) * time.Minute)
		for range 20 {
			at := now.Add(-time.Duration(rng.IntN(60)) * time.Second)
			store.versions = append(store.versions, version{
				id: fmt.Sprintf("gid://shopify/Order/%d", rng.IntN(50)), updated: at,
				visible: at.Add(time.Duration(rng.Int64N(int64(lag) + 1))),
			})
		}
		adv := cur.Advance(lookback)
		for _, v := range store.list(now, cur.From(lookback)) {
			if adv.Repeat(v.id, v.updated) {
				continue
			}
			published[version{id: v.id, updated: v.updated}]++
			adv.Published(v.id, v.updated)
		}
		if !crashBeforeCommit[run] {
			cur = adv.Cursor()
		}
	}
	// Every version that was the latest of its record, among those visible
	// by the last listing, must have been published.
	for _, v := range store.list(start.Add(60*time.Minute), time.Time{}) {
		if published[version{id: v.id, updated: v.updated}] == 0 {
			missed = append(missed, v)
		}
	}
	return published, missed
}

// TestIncrementalListingsNeitherMissNorRepeat: with a lookback longer than
// the lag of late writes, an hour of minute-by-minute listings publishes the
// final version of every record, and no version twice; without one, late
// writes are missed (what the lookback is for).
func TestIncrementalListingsNeitherMissNorRepeat(t *testing.T) {
	t.Parallel()
	published, missed := runListings(t, 2*time.Minute, 90*time.Second, nil)
	if len(missed) > 0 {
		t.Errorf("with a 2 min lookback, %d final versions were never published, such as %+v", len(missed), missed[0])
	}
	for v, n := range published {
		if n > 1 {
			t.Errorf("%s at %s published %d times", v.id, v.updated, n)
		}
	}
	if _, missed := runListings(t, 0, 90*time.Second, nil); len(missed) == 0 {
		t.Error("without a lookback no late write was missed: the simulation does not exercise the lookback")
	}
}

// TestACrashBeforeTheCommitRepeatsButLosesNothing: a run that published but
// died before committing its cursor leaves the next run to publish the same
// versions again (the same event ids downstream), and nothing is lost.
func TestACrashBeforeTheCommitRepeatsButLosesNothing(t *testing.T) {
	t.Parallel()
	published, missed := runListings(t, 2*time.Minute, 90*time.Second, map[int]bool{10: true, 11: true, 30: true})
	if len(missed) > 0 {
		t.Errorf("%d final versions never published", len(missed))
	}
	repeats := 0
	for _, n := range published {
		if n > 1 {
			repeats++
		}
	}
	if repeats == 0 {
		t.Error("no version was published again after the crashes: the crash was not exercised")
	}
}

func TestCursorFromAndEdge(t *testing.T) {
	t.Parallel()
	if got := (Cursor{}).From(time.Hour); !got.IsZero() {
		t.Errorf("a new cursor lists from %v, want everything", got)
	}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	adv := Cursor{}.Advance(10 * time.Minute)
	adv.Published("a", t0.Add(-30*time.Minute))
	adv.Published("b", t0.Add(-5*time.Minute))
	adv.Published("c", t0)
	want := Cursor{Since: t0, Edge: map[string]time.Time{"b": t0.Add(-5 * time.Minute), "c": t0}}
	got := adv.Cursor()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cursor (-want +got):\n%s", diff)
	}
	if from := got.From(10 * time.Minute); !from.Equal(t0.Add(-10 * time.Minute)) {
		t.Errorf("next listing from %v", from)
	}
	next := got.Advance(10 * time.Minute)
	if !next.Repeat("c", t0) || next.Repeat("c", t0.Add(time.Second)) || next.Repeat("a", t0.Add(-30*time.Minute)) {
		t.Error("Repeat does not tell the published versions at the edge from new ones")
	}
}

func TestCursorStoreCommitsWithPreconditions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := laketest.New(t, "lake", nil).Bucket("lake")
	s := NewCursorStore(bucket, "state/cursors/shopify/orders.json")
	c, gen, err := s.Load(ctx)
	if err != nil || gen != 0 || !c.Since.IsZero() {
		t.Fatalf("new store: %+v, %d, %v", c, gen, err)
	}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	want := Cursor{Since: t0, Edge: map[string]time.Time{"gid://shopify/Order/1": t0}}
	gen1, err := s.Commit(ctx, want, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, Cursor{Since: t0.Add(time.Hour)}, 0); !errors.Is(err, ErrConflict) {
		t.Errorf("a second first commit = %v, want ErrConflict", err)
	}
	got, gen, err := s.Load(ctx)
	if err != nil || gen != gen1 || !got.Since.Equal(want.Since) || !got.Edge["gid://shopify/Order/1"].Equal(t0) {
		t.Fatalf("Load = %+v, %d, %v; want %+v at %d", got, gen, err, want, gen1)
	}
	if _, err := s.Commit(ctx, Cursor{Since: t0.Add(time.Hour)}, gen1); err != nil {
		t.Errorf("commit at the current generation: %v", err)
	}
	if _, err := s.Commit(ctx, Cursor{Since: t0.Add(2 * time.Hour)}, gen1); !errors.Is(err, ErrConflict) {
		t.Errorf("commit at a stale generation = %v, want ErrConflict", err)
	}
	w := bucket.Object("state/cursors/shopify/orders.json").NewWriter(ctx)
	_, _ = w.Write([]byte("not json"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, gen, err := s.Load(ctx); !errors.Is(err, ErrCorrupt) || gen == 0 {
		t.Errorf("garbled cursor: generation %d, %v; want ErrCorrupt with its generation", gen, err)
	}
}
