package pollcarts

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/internal/logtest"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/state"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// recorder is a Publisher that keeps every event; failAfter, when positive,
// makes publishes fail once that many succeeded.
type recorder struct {
	mu        sync.Mutex
	events    []model.CartEvent
	failAfter int
}

type result struct{ err error }

func (r result) Get(context.Context) (string, error) { return "id", r.err }

func (r *recorder) Publish(_ context.Context, ev model.CartEvent) events.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAfter > 0 && len(r.events) >= r.failAfter {
		return result{errors.New("pubsub unavailable")}
	}
	r.events = append(r.events, ev)
	return result{}
}

func (r *recorder) Flush(context.Context) {}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.EventID)
	}
	return out
}

type nopRuns struct{}

func (nopRuns) RecordRun(context.Context, warehouse.Run) error { return nil }

// env is a storefront, a bucket and a publisher shared by the pollers of a test.
type env struct {
	api    *catalog
	gcs    *storage.Client
	pub    *recorder
	logs   *logtest.Buffer
	logger *slog.Logger
	apiURL string
}

// catalog serves carts JSON that a test can change between polls.
type catalog struct {
	mu    sync.Mutex
	carts string
	n     int
}

func (c *catalog) requests() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func (c *catalog) set(s string) { c.mu.Lock(); c.carts = s; c.mu.Unlock() }

func (c *catalog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	body := c.carts
	c.n++
	c.mu.Unlock()
	storefront.NewServer(storefront.Raw(map[string]string{"carts": body})).ServeHTTP(w, r)
}

func fixtureCarts(t *testing.T) []map[string]any {
	t.Helper()
	var carts []map[string]any
	if err := storefront.DecodeFixtures("carts", &carts); err != nil {
		t.Fatal(err)
	}
	return carts
}

func encode(t *testing.T, carts []map[string]any) string {
	t.Helper()
	b, err := json.Marshal(carts)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newEnv(t *testing.T, carts string) *env {
	t.Helper()
	e := &env{api: &catalog{carts: carts}, pub: &recorder{}}
	e.logger, e.logs = logtest.New()
	srv := httptest.NewServer(e.api)
	t.Cleanup(srv.Close)
	e.apiURL = srv.URL
	e.gcs = laketest.New(t, "raw", nil)
	return e
}

var pollNow = time.Date(2020, 3, 10, 12, 0, 0, 0, time.UTC)

// rejects returns the carts quarantined on the fixtures' day.
func (e *env) rejects(t *testing.T) string {
	t.Helper()
	return laketest.Read(t, e.gcs.Bucket("raw"), "rejects/carts/dt=2020-03-10/carts.jsonl")
}

func (e *env) poller(t *testing.T, store StateStore, extra map[string]string) *Function {
	t.Helper()
	vars := map[string]string{"PROJECT_ID": "proj", "RAW_BUCKET": "raw", "SOURCE_BASE_URL": e.apiURL,
		"CART_EVENTS_TOPIC": "cart-events", "SOURCE_RATE_LIMIT": "1000", "SOURCE_MAX_RETRIES": "-1"}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := LoadConfig(config.Map(vars))
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.New(cfg.Source.HTTP, nil)
	if err != nil {
		t.Fatal(err)
	}
	lw, err := lake.NewWriter(lake.Config{Bucket: "raw"}, e.gcs)
	if err != nil {
		t.Fatal(err)
	}
	if store == nil {
		store = e.store()
	}
	f, err := New(cfg, Deps{Source: src, State: store, Publisher: e.pub, Lake: lw, Runs: nopRuns{},
		Logger: e.logger, Now: func() time.Time { return pollNow }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (e *env) store() *state.Store {
	return state.NewStore(e.gcs.Bucket("raw"), "state/cart-poller.state")
}

func run(t *testing.T, f *Function) Summary {
	t.Helper()
	sum, err := f.Run(context.Background(), Request{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sum
}

func counts(s Summary) [5]int64 {
	return [5]int64{s.New, s.Changed, s.Unchanged, s.Deleted, s.Published}
}

// TestSchemaDriftIsReported: carts with a field the model does not know are
// named in the summary and the log, and published all the same.
func TestSchemaDriftIsReported(t *testing.T) {
	t.Parallel()
	carts := fixtureCarts(t)
	if got := run(t, newEnv(t, encode(t, carts)).poller(t, nil, nil)); got.Drift == nil || got.Drift.Drifted() || got.Drift.Records != 7 {
		t.Fatalf("fixtures drift = %+v, want none over 7 carts", got.Drift)
	}
	for _, c := range carts {
		c["coupon"] = "XMAS"
		c["products"].([]any)[0].(map[string]any)["price"] = 1.5
	}
	e := newEnv(t, encode(t, carts))
	got := run(t, e.poller(t, nil, nil))
	if got.Published != 7 || got.Drift == nil || got.Drift.String() != "added coupon (string) in 7 of 7; added products[].price (number) in 7 of 7" {
		t.Errorf("published %d, drift %v", got.Published, got.Drift)
	}
	if !strings.Contains(e.logs.String(), `"message":"schema drift"`) {
		t.Errorf("no drift logged:\n%s", e.logs.String())
	}
}

func TestPollPublishesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	carts := fixtureCarts(t)
	e := newEnv(t, encode(t, carts))
	f := e.poller(t, nil, nil)

	if got := counts(run(t, f)); got != [5]int64{7, 0, 0, 0, 7} {
		t.Fatalf("first poll new/changed/unchanged/deleted/published = %v", got)
	}
	if got := counts(run(t, f)); got != [5]int64{0, 0, 7, 0, 0} {
		t.Fatalf("second poll = %v, want nothing published", got)
	}

	// Reordering a cart's lines is not a change; a new quantity is.
	lines := carts[0]["products"].([]any)
	slices.Reverse(lines)
	e.api.set(encode(t, carts))
	if got := counts(run(t, f)); got != [5]int64{0, 0, 7, 0, 0} {
		t.Fatalf("after reordering lines = %v, want no change", got)
	}
	carts[1]["products"].([]any)[0].(map[string]any)["quantity"] = 99
	e.api.set(encode(t, carts))
	if got := counts(run(t, f)); got != [5]int64{0, 1, 6, 0, 1} {
		t.Fatalf("after changing one cart = %v, want exactly 1 published", got)
	}

	removed := int64(carts[6]["id"].(float64))
	e.api.set(encode(t, carts[:6]))
	sum := run(t, f)
	if got := counts(sum); got != [5]int64{0, 0, 6, 1, 1} || sum.CartsInState != 6 {
		t.Fatalf("after removing one cart = %v (state %d), want exactly 1 tombstone", got, sum.CartsInState)
	}
	last := e.pub.events[len(e.pub.events)-1]
	if last.EventType != model.EventCartDeleted || last.CartID != removed {
		t.Errorf("last event = %+v, want the tombstone of cart %d", last, removed)
	}
	for _, ev := range e.pub.events {
		if err := model.Validate(&ev); err != nil {
			t.Errorf("published an invalid event: %v", err)
		}
	}
}

func TestPublishFailureCommitsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, encode(t, fixtureCarts(t)))
	e.pub.failAfter = 3
	f := e.poller(t, nil, nil)
	sum, err := f.Run(context.Background(), Request{})
	if !errors.Is(err, ErrPublish) || sum.StateCommitted {
		t.Fatalf("Run = %+v, %v; want a publish failure and no commit", sum, err)
	}
	if _, gen, _ := e.store().Load(context.Background()); gen != 0 {
		t.Errorf("state committed at generation %d", gen)
	}
	e.pub.failAfter = 0
	if got := counts(run(t, f)); got[4] != 7 {
		t.Errorf("retry published %d, want all 7 again", got[4])
	}
	if n := len(distinct(e.pub.ids())); n != 7 {
		t.Errorf("%d distinct event ids across both polls, want 7", n)
	}
}

// crashingStore fails its first Commit, as if the poller died after
// publishing and before committing.
type crashingStore struct {
	*state.Store
	crashed bool
}

func (s *crashingStore) Commit(ctx context.Context, entries []state.Entry, gen int64) (int64, error) {
	if !s.crashed {
		s.crashed = true
		return 0, errors.New("instance terminated")
	}
	return s.Store.Commit(ctx, entries, gen)
}

func TestCrashBetweenPublishAndCommitRepeatsTheSameIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, encode(t, fixtureCarts(t)))
	f := e.poller(t, &crashingStore{Store: e.store()}, nil)
	if _, err := f.Run(context.Background(), Request{}); err == nil {
		t.Fatal("the crashed poll reported success")
	}
	first := e.pub.ids()
	run(t, f)
	second := e.pub.ids()[len(first):]
	if !slices.Equal(sorted(first), sorted(second)) {
		t.Errorf("the retry published other ids:\n%v\n%v", first, second)
	}
	if got := counts(run(t, f)); got[4] != 0 {
		t.Errorf("third poll published %d", got[4])
	}
}

// barrierStore lets two pollers load the same generation before either commits.
type barrierStore struct {
	*state.Store
	loaded *sync.WaitGroup
}

func (s barrierStore) Load(ctx context.Context) ([]state.Entry, int64, error) {
	entries, gen, err := s.Store.Load(ctx)
	s.loaded.Done()
	s.loaded.Wait()
	return entries, gen, err
}

func TestRacingPollersCommitOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, encode(t, fixtureCarts(t)))
	var loaded sync.WaitGroup
	loaded.Add(2)
	a := e.poller(t, barrierStore{e.store(), &loaded}, nil)
	b := e.poller(t, barrierStore{e.store(), &loaded}, nil)
	var wg sync.WaitGroup
	sums := make([]Summary, 2)
	for i, f := range []*Function{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], _ = f.Run(context.Background(), Request{})
		}()
	}
	wg.Wait()
	committed := 0
	for _, s := range sums {
		if s.StateCommitted {
			committed++
		} else if s.Status != StatusSuperseded {
			t.Errorf("loser status = %q, want %q", s.Status, StatusSuperseded)
		}
	}
	if committed != 1 {
		t.Errorf("%d pollers committed, want exactly 1: %+v", committed, sums)
	}
	if n, d := len(e.pub.ids()), len(distinct(e.pub.ids())); n != 14 || d != 7 {
		t.Errorf("published %d events with %d distinct ids, want 14 and 7", n, d)
	}
	if !strings.Contains(e.logs.String(), "another poll committed the cart state first") {
		t.Error("the loser did not log why")
	}
}

func TestInvalidCartsAreQuarantinedNotDeleted(t *testing.T) {
	t.Parallel()
	carts := fixtureCarts(t)
	e := newEnv(t, encode(t, carts))
	f := e.poller(t, nil, nil)
	run(t, f)
	carts[2]["products"].([]any)[0].(map[string]any)["quantity"] = -1
	e.api.set(encode(t, carts))
	sum := run(t, f)
	if sum.Rejected != 1 || sum.Deleted != 0 || sum.Published != 0 || sum.CartsInState != 7 {
		t.Errorf("summary = %+v, want 1 rejected and nothing deleted or published", sum)
	}
	if sum.RejectReasons["invalid record: products[].quantity fails gt=0"] != 1 {
		t.Errorf("reject reasons = %v", sum.RejectReasons)
	}
	if rejects := e.rejects(t); !strings.Contains(rejects, "products[0].quantity fails gt=0") {
		t.Errorf("rejects object: %s", rejects)
	}
}

func TestWindowLeavesOlderCartsAlone(t *testing.T) {
	t.Parallel()
	carts := fixtureCarts(t)
	e := newEnv(t, encode(t, carts))
	run(t, e.poller(t, nil, nil)) // a full poll first
	// The windowed poll only sees carts of the last 10 days (2020-03-01..),
	// as the API's startdate would return; older carts must not be deleted.
	var recent []map[string]any
	for _, c := range carts {
		if c["date"].(string) >= "2020-03-01" {
			recent = append(recent, c)
		}
	}
	e.api.set(encode(t, recent))
	sum := run(t, e.poller(t, nil, map[string]string{"CARTS_WINDOW_DAYS": "10"}))
	if sum.Deleted != 0 || sum.CartsInState != 7 || sum.Unchanged != int64(len(recent)) {
		t.Errorf("windowed poll = %+v", sum)
	}
}

func distinct(ids []string) []string { return slices.Compact(sorted(ids)) }

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// TestCartListedAgainIsQuarantined: a listing that shows a cart twice keeps
// the first listing, on the first poll and on every later one, and
// quarantines and counts the repeat, whether it is a copy or another version.
func TestCartListedAgainIsQuarantined(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		repeat func(cart map[string]any) map[string]any
	}{
		{"a copy", func(cart map[string]any) map[string]any { return cart }},
		{"another version", func(cart map[string]any) map[string]any {
			other := maps.Clone(cart)
			other["products"] = []any{map[string]any{"productId": 1, "quantity": 99}}
			return other
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			carts := fixtureCarts(t)
			listing := append(slices.Clone(carts), tc.repeat(carts[3]))
			e := newEnv(t, encode(t, listing))
			f := e.poller(t, nil, nil)
			first := run(t, f)
			if first.Valid != 7 || first.Rejected != 1 || first.New != 7 || first.Published != 7 || first.CartsInState != 7 || !first.StateCommitted {
				t.Fatalf("first poll = %+v, want 7 new carts published and the repeat rejected", first)
			}
			if n := first.RejectReasons["carts: invalid record: id listed again in the same listing; the first listing is kept"]; n != 1 {
				t.Errorf("reject reasons = %v", first.RejectReasons)
			}
			e.pub.mu.Lock()
			for _, ev := range e.pub.events {
				if ev.CartID == 4 && (len(ev.Products) != len(carts[3]["products"].([]any)) || ev.Products[0].Quantity == 99) {
					t.Errorf("cart 4 published as %+v, want its first listing", ev.Products)
				}
			}
			e.pub.mu.Unlock()
			if rejects := e.rejects(t); strings.Count(rejects, "\n") != 1 || !strings.Contains(rejects, `"id":4`) {
				t.Errorf("rejects object = %s, want the repeat of cart 4", rejects)
			}

			second := run(t, f)
			if second.Published != 0 || second.Unchanged != 7 || second.Rejected != 1 || second.CartsInState != 7 {
				t.Errorf("second poll = %+v, want the first listing unchanged and the repeat rejected again", second)
			}
		})
	}
}

// TestCollapsedListingDeletesNothing: a listing that comes back empty or
// much smaller than the state (an outage that still answers 200) tombstones
// nothing and commits nothing, unless the call allows the shrink.
func TestCollapsedListingDeletesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, listing string
		wantDeleted   int64
		wantReason    string
	}{
		{name: "empty", listing: `[]`, wantDeleted: 7, wantReason: "the cart listing came back empty where the last accepted listing had 7"},
		{name: "one of seven", listing: "first", wantDeleted: 6, wantReason: "the cart listing fell from 7 to 1 records (-86%)"},
		// Unreadable carts are kept, not deleted; but four of seven leave
		// the marts stale, and the error says why.
		{name: "four of seven invalid", listing: "four invalid", wantDeleted: 0, wantReason: "the cart listing fell from 7 to 3 records (-57%), " +
			"more than SOURCE_MAX_SHRINK allows (50%); the source sent 7, and 4 were rejected as invalid; no cart deleted, state not committed; " +
			"rejected: 4 products[].quantity fails gt=0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			carts := fixtureCarts(t)
			e := newEnv(t, encode(t, carts))
			f := e.poller(t, nil, nil)
			run(t, f)
			_, gen, _ := e.store().Load(context.Background())
			published := len(e.pub.ids())
			switch tc.listing {
			case "first":
				tc.listing = encode(t, carts[:1])
			case "four invalid":
				for _, c := range carts[:4] {
					c["products"] = []any{map[string]any{"productId": 1, "quantity": -1}}
				}
				tc.listing = encode(t, carts)
			}
			e.api.set(tc.listing)

			sum, err := f.Run(context.Background(), Request{})
			if !errors.Is(err, ErrSource) || !errors.Is(err, source.ErrCollapsed) || !strings.Contains(err.Error(), tc.wantReason) {
				t.Fatalf("Run = %v, want a collapsed listing: %q", err, tc.wantReason)
			}
			if sum.Deleted != 0 || sum.StateCommitted || len(e.pub.ids()) != published {
				t.Errorf("summary = %+v after %d more events, want nothing deleted or committed", sum, len(e.pub.ids())-published)
			}
			if _, now, _ := e.store().Load(context.Background()); now != gen {
				t.Errorf("state generation %d, want %d untouched", now, gen)
			}
			if rejects := e.rejects(t); !strings.Contains(rejects, strings.Split(tc.wantReason, ";")[0]) {
				t.Errorf("rejects object: %s", rejects)
			}

			sum, err = f.Run(context.Background(), Request{AllowShrink: true})
			if err != nil || sum.Deleted != tc.wantDeleted || !sum.StateCommitted {
				t.Errorf("with allow_shrink: %+v, %v; want %d tombstones committed", sum, err, tc.wantDeleted)
			}
		})
	}
}

// TestOversizedCartIsQuarantinedAndNothingDeleted: a cart over the record
// limit cannot be read, so its id is unknown; it is quarantined by size and
// reason, and no cart is taken as deleted.
func TestOversizedCartIsQuarantinedAndNothingDeleted(t *testing.T) {
	t.Parallel()
	carts := fixtureCarts(t)
	e := newEnv(t, encode(t, carts))
	f := e.poller(t, nil, map[string]string{"SOURCE_MAX_RECORD_BYTES": "1024"})
	run(t, f)
	carts[6]["note"] = strings.Repeat("x", 4000)
	e.api.set(encode(t, carts))
	sum := run(t, f)
	if sum.Rejected != 1 || sum.Deleted != 0 || sum.CartsInState != 7 || sum.Unchanged != 6 {
		t.Errorf("summary = %+v, want 1 rejected, 6 unchanged, none deleted, 7 in state", sum)
	}
	if rejects := e.rejects(t); !strings.Contains(rejects, "record 6 is ") || strings.Contains(rejects, "xxxx") {
		t.Errorf("rejects object: %s", rejects)
	}
}

// TestBrokenListingStartsOver: a listing cut off mid-body is read again
// from the start, and the poll ends as a clean one would.
func TestBrokenListingStartsOver(t *testing.T) {
	t.Parallel()
	full := encode(t, fixtureCarts(t))
	e := newEnv(t, full)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			_, _ = w.Write([]byte(full[:len(full)/2]))
			return
		}
		e.api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.apiURL = srv.URL
	f := e.poller(t, nil, map[string]string{"SOURCE_MAX_RETRIES": "2"})
	sum := run(t, f)
	if sum.New != 7 || sum.Fetched != 7 || calls.Load() != 2 || !sum.StateCommitted {
		t.Errorf("poll = %+v in %d calls; want 7 new from 2 calls, committed", sum, calls.Load())
	}
	// The carts the broken attempt had published are published again, under
	// the same ids.
	if n := len(distinct(e.pub.ids())); n != 7 || sum.Published != int64(len(e.pub.ids())) {
		t.Errorf("%d distinct ids in %d events (summary: %d published), want 7 distinct", n, len(e.pub.ids()), sum.Published)
	}
}

// TestRunTimeoutEndsAStalledPoll: a source that answers and then drips its
// body ends the poll at RUN_TIMEOUT with an error that names it, before the
// platform's timeout; nothing is published or committed.
func TestRunTimeoutEndsAStalledPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "[]")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		rec.Body.WriteString(strings.Repeat(" ", 1<<20)) // white space, a byte every 100 ms
		storefront.Trickle(w, r, rec, 100*time.Millisecond)
	}))
	t.Cleanup(srv.Close)
	e.apiURL = srv.URL
	f := e.poller(t, nil, map[string]string{"RUN_TIMEOUT": "500ms", "SOURCE_TIMEOUT": "10s"})
	began := time.Now()
	sum, err := f.Run(context.Background(), Request{})
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the poll took %s with RUN_TIMEOUT 500ms", took)
	}
	if !errors.Is(err, config.ErrRunTimeout) || !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), "PollCarts stopped after RUN_TIMEOUT (500ms)") {
		t.Fatalf("error = %v, want the run timeout named", err)
	}
	if sum.Published != 0 || sum.StateCommitted || sum.Status != warehouse.StatusFailed {
		t.Errorf("summary %+v, want a failed poll that published and committed nothing", sum)
	}
	if !strings.Contains(e.logs.String(), `"severity":"ERROR","message":"poll failed"`) {
		t.Errorf("no error logged:\n%s", e.logs.String())
	}
}
