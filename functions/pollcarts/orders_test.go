package pollcarts

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/functions/local/wooapi"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/source/connect"
	"github.com/shoplake/shoplake/shared/state"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// orderNow is when the store polls of these tests start.
var orderNow = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

// shopifyOrder is an order node of the Shopify stand-in, a guest's: lines
// of quantity × 0.10 and 1 × 0.20, created on the fixtures' first day (but
// order 999, created when it was updated), updated at.
func shopifyOrder(n int, quantity int, at time.Time) shopifyapi.Node {
	created := time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC)
	if n == 999 {
		created = at
	}
	return shopifyapi.Order(int64(n), 0, created, at,
		shopifyapi.OrderLine{ProductID: 1, Quantity: int64(quantity), Price: "0.10"}, shopifyapi.OrderLine{ProductID: 2, Quantity: 1, Price: "0.20"})
}

// shopifyStandIn serves the FakeStore fixtures as a Shopify store whose
// token is shpat_test, with bucket (zero: Shopify's own).
func shopifyStandIn(t *testing.T, bucket shopifyapi.Bucket) (*shopifyapi.Server, string) {
	t.Helper()
	data, err := shopifyapi.FromFakeStore()
	if err != nil {
		t.Fatal(err)
	}
	api := shopifyapi.NewServer(shopifyapi.Config{Token: "shpat_test", Bucket: bucket}, data)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return api, srv.URL
}

// orderEnv is a poller of a store's orders against its stand-in, with the
// lake in fake GCS and a clock the test moves.
type orderEnv struct {
	*env
	kind    string
	now     time.Time
	cursors map[string]*flakyCursor
}

// flakyCursor is a state.CursorStore whose next commit fails when fail is
// set, as a poll stopped between publishing and moving its cursor.
type flakyCursor struct {
	*state.CursorStore
	fail bool
}

func (c *flakyCursor) Commit(ctx context.Context, cur state.Cursor, gen int64) (int64, error) {
	if c.fail {
		c.fail = false
		return 0, errors.New("the process stopped")
	}
	return c.CursorStore.Commit(ctx, cur, gen)
}

func newOrderEnv(t *testing.T, kind, baseURL string) *orderEnv {
	t.Helper()
	e := &orderEnv{env: newEnv(t, "[]"), kind: kind, now: orderNow, cursors: map[string]*flakyCursor{}}
	e.apiURL = baseURL
	return e
}

func (e *orderEnv) poller(t *testing.T, key string) *Function {
	t.Helper()
	cfg, err := LoadConfig(config.Map(map[string]string{"PROJECT_ID": "proj", "RAW_BUCKET": "raw", "SOURCE_KIND": e.kind,
		"SOURCE_BASE_URL": e.apiURL, "SOURCE_API_KEY": key, "CART_EVENTS_TOPIC": "cart-events", "SOURCE_MAX_RETRIES": "-1"}))
	if err != nil {
		t.Fatal(err)
	}
	src, err := connect.New(cfg.Source, key, "SOURCE_API_KEY")
	if err != nil {
		t.Fatal(err)
	}
	lw, err := lake.NewWriter(lake.Config{Bucket: "raw"}, e.gcs)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(cfg, Deps{Source: src.Client, Store: src.Store, State: e.store(), Publisher: e.pub, Lake: lw, Runs: nopRuns{},
		Logger: e.logger, Now: func() time.Time { return e.now },
		Cursors: func(object string) CursorStore {
			if e.cursors[object] == nil {
				e.cursors[object] = &flakyCursor{CursorStore: state.NewCursorStore(e.gcs.Bucket("raw"), object)}
			}
			return e.cursors[object]
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestStoreOrdersArePolledFromTheirCursor follows a Shopify store through
// its polls: the first starts at the lookback before now and finds nothing
// new in the fixtures; after an order is added and another changed, the
// next publishes both (exact money), the one after reads them again within
// the lookback and publishes nothing, and a poll stopped between publishing
// and moving its cursor publishes the same event ids again on its rerun.
func TestStoreOrdersArePolledFromTheirCursor(t *testing.T) {
	t.Parallel()
	api, url := shopifyStandIn(t, shopifyapi.Bucket{})
	e := newOrderEnv(t, connect.Shopify, url)
	f := e.poller(t, "shpat_test")
	cursorObject := state.CursorObject(connect.Shopify, OrdersCursor)

	sum := run(t, f)
	if sum.Source != connect.Shopify || sum.Fetched != 0 || sum.Published != 0 || !sum.StateCommitted || sum.From != "2026-12-04T09:45:00Z" {
		t.Fatalf("first poll = %+v, want nothing read from 09:45 and the cursor committed", sum)
	}

	// An order added and one changed (quantity 2 → 3) a minute later.
	at := orderNow.Add(time.Minute)
	api.Upsert("orders", shopifyOrder(999, 2, at))
	api.Upsert("orders", shopifyOrder(3, 3, at))
	e.now = orderNow.Add(2 * time.Minute)
	served := api.Served()
	sum = run(t, f)
	if got := counts(sum); got != [5]int64{1, 1, 0, 0, 2} || api.Served()-served != 2 {
		t.Fatalf("second poll: new, changed, unchanged, deleted, published = %v after %d records served; want [1 1 0 0 2] after 2",
			got, api.Served()-served)
	}
	first := e.pub.ids()
	var o999 *model.CanonicalOrder
	for _, ev := range e.pub.events {
		if err := model.Validate(&ev); err != nil || ev.EventType != model.EventOrderUpserted || ev.CartID != 0 {
			t.Errorf("event %+v: %v, want a valid order.upserted without a cart", ev, err)
		}
		if ev.StoreOrder.SourceID == "gid://shopify/Order/999" {
			o999 = ev.StoreOrder
		}
	}
	if o999 == nil {
		t.Fatal("order 999 was not published")
	}
	if sum, _ := o999.Revenue(); sum.Cmp(money.MustParse("0.40")) != 0 {
		t.Errorf("order 999's lines sum to %s, want exactly 0.40", sum)
	}
	if sum.Cursor != at.Format(time.RFC3339) {
		t.Errorf("cursor at %s, want the newest update published, %s", sum.Cursor, at.Format(time.RFC3339))
	}

	// Read again within the lookback: dropped as repeats.
	e.now = orderNow.Add(3 * time.Minute)
	if got := counts(run(t, f)); got != [5]int64{0, 0, 2, 0, 0} {
		t.Errorf("third poll: %v, want the 2 orders unchanged and nothing published", got)
	}

	// Changed again; the poll publishes, then stops before its cursor
	// moves. The rerun publishes the same ids, and moves it.
	at = orderNow.Add(4 * time.Minute)
	api.Upsert("orders", shopifyOrder(3, 4, at))
	e.now = orderNow.Add(5 * time.Minute)
	e.cursors[cursorObject].fail = true
	before := len(e.pub.events)
	if sum, err := f.Run(context.Background(), Request{}); err == nil || sum.StateCommitted || sum.Published != 1 {
		t.Fatalf("stopped poll = %+v, %v; want 1 published, the cursor not moved, an error", sum, err)
	}
	stopped := e.pub.ids()[before:]
	sum = run(t, f)
	if got := e.pub.ids()[before+len(stopped):]; !slices.Equal(got, stopped) || !sum.StateCommitted {
		t.Errorf("the rerun published %v, want the stopped poll's ids %v again, and moved the cursor", got, stopped)
	}
	if slices.Contains(first, stopped[0]) {
		t.Errorf("a new version of order 3 repeats an earlier event id")
	}
}

// TestStoreOrderPollsPublishNothingOnAFailure: a store that refuses the
// token, or cuts a listing off, leaves nothing published and the lake
// byte-identical (the cursor unchanged).
func TestStoreOrderPollsPublishNothingOnAFailure(t *testing.T) {
	t.Parallel()
	for _, mode := range []shopifyapi.Mode{shopifyapi.TokenRevoked, shopifyapi.CutOff} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			api, url := shopifyStandIn(t, shopifyapi.Bucket{})
			e := newOrderEnv(t, connect.Shopify, url)
			f := e.poller(t, "shpat_test")
			run(t, f)
			at := orderNow.Add(time.Minute)
			for n := range 300 { // more than a page, so a cut-off page falls mid-listing
				api.Upsert("orders", shopifyOrder(1000+n, 1, at))
			}
			lakeBefore := laketest.Objects(t, e.gcs.Bucket("raw"))
			if err := api.Misbehave(mode); err != nil {
				t.Fatal(err)
			}
			e.now = orderNow.Add(2 * time.Minute)
			sum, err := f.Run(context.Background(), Request{})
			if err == nil || !errors.Is(err, ErrSource) || sum.Status != warehouse.StatusFailed {
				t.Fatalf("poll = %+v, %v; want a failed poll naming the source", sum, err)
			}
			if sum.Published != 0 || len(e.pub.events) != 0 || sum.StateCommitted {
				t.Errorf("published %d events, state committed %v; want nothing", len(e.pub.events), sum.StateCommitted)
			}
			if mode == shopifyapi.TokenRevoked && strings.Contains(err.Error(), "shpat_test") {
				t.Errorf("the error shows the token: %v", err)
			}
			if after := laketest.Objects(t, e.gcs.Bucket("raw")); !maps.Equal(after, lakeBefore) {
				t.Errorf("the lake changed: %v, was %v", after, lakeBefore)
			}
		})
	}
}

// TestTrashedStoreOrdersAreDeletionEvents: an order a WooCommerce store
// moves to the trash is published as order.deleted, and the poll starts
// from the daily snapshot's cursor when that one is newer than its own.
func TestTrashedStoreOrdersAreDeletionEvents(t *testing.T) {
	t.Parallel()
	data, err := wooapi.FromFakeStore()
	if err != nil {
		t.Fatal(err)
	}
	api := wooapi.NewServer(wooapi.Config{ConsumerKey: "ck_test", ConsumerSecret: "cs_test"}, data)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e := newOrderEnv(t, connect.WooCommerce, srv.URL)
	f := e.poller(t, "ck_test:cs_test")
	snapshot := state.NewCursorStore(e.gcs.Bucket("raw"), state.CursorObject(connect.WooCommerce, "orders"))
	if _, err := snapshot.Commit(context.Background(), state.Cursor{Since: orderNow.Add(30 * time.Minute)}, 0); err != nil {
		t.Fatal(err)
	}
	if err := api.Trash("orders", 2, orderNow.Add(40*time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.now = orderNow.Add(41 * time.Minute)
	sum := run(t, f)
	if sum.From != "2026-12-04T10:15:00Z" {
		t.Errorf("the poll read from %s, want the snapshot's cursor less the lookback, 10:15", sum.From)
	}
	if got := counts(sum); got != [5]int64{0, 0, 0, 1, 1} || e.pub.events[0].EventType != model.EventOrderDeleted || e.pub.events[0].StoreOrder.SourceID != "2" {
		t.Errorf("poll = %v, events %+v; want order 2 published as order.deleted", got, e.pub.events)
	}
}

// TestALongStoreOrderPollIsPublishedAsItIsRead: past maxHeld events a poll
// publishes as it reads, so memory stays bounded; when its listing then
// fails, the rerun publishes those events again under the same ids, and
// every other.
func TestALongStoreOrderPollIsPublishedAsItIsRead(t *testing.T) {
	t.Parallel()
	api, url := shopifyStandIn(t, shopifyapi.Bucket{Max: 1e9, RestoreRate: 1e9})
	e := newOrderEnv(t, connect.Shopify, url)
	f := e.poller(t, "shpat_test")
	run(t, f) // requests 0 and 1: the orders and checkouts since 09:45, none
	at := orderNow.Add(time.Minute)
	const n = maxHeld + 1000
	for i := range n {
		api.Upsert("orders", shopifyOrder(1000+i, 1, at))
	}
	// 250 orders a page: the 23rd page (request 24) fails, after 5,500
	// orders were read.
	api.OnRequest(func(op string, _ map[string]any, req int) *shopifyapi.Fault {
		if req == 24 {
			return &shopifyapi.Fault{Status: 500}
		}
		return nil
	})
	e.now = orderNow.Add(2 * time.Minute)
	sum, err := f.Run(context.Background(), Request{})
	if err == nil || sum.StateCommitted || len(e.pub.events) != maxHeld || sum.Published != maxHeld {
		t.Fatalf("failed poll = %+v, %v, %d published; want %d published as read and counted, the cursor not moved", sum, err, len(e.pub.events), maxHeld)
	}
	early := e.pub.ids()
	sum = run(t, f)
	again := e.pub.ids()[len(early):]
	if len(again) != n || !sum.StateCommitted {
		t.Fatalf("rerun published %d, committed %v; want all %d and the cursor moved", len(again), sum.StateCommitted, n)
	}
	for _, id := range early {
		if !slices.Contains(again, id) {
			t.Fatalf("event %s of the failed poll is not among the rerun's", id)
		}
	}
}
