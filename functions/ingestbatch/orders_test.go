package ingestbatch

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/functions/local/wooapi"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/source/connect"
	"github.com/shoplake/shoplake/shared/state"
)

// changedAt is when the tests change a store: after every fixture order.
var changedAt = testNow.Add(2 * time.Hour)

// shopifyNode is the fixture node i (from 0) of a connection of data, with
// its id and updatedAt set.
func shopifyNode(t *testing.T, data shopifyapi.Connections, connection string, i int, id string, at time.Time) shopifyapi.Node {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data[connection][i].JSON, &m); err != nil {
		t.Fatal(err)
	}
	m["id"], m["updatedAt"] = id, at.Format(time.RFC3339)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return shopifyapi.Node{ID: id, UpdatedAt: at, JSON: b}
}

// TestOrdersAreReadFromTheirCursor: the first snapshot of a store's orders
// lists them all; the next lists only those updated since its cursor and
// merges them into the last snapshot (a changed order replaced, a new one
// added, one deleted for good left out by the reconcile of ids, a trashed
// one kept as a deletion). A run stopped after publishing its snapshot and
// before moving the cursor lists from the old cursor again and writes the
// same snapshot: nothing lost, nothing doubled.
func TestOrdersAreReadFromTheirCursor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind, secret string
		// api is the store; change changes it, and says the order it
		// changed, the one it added and the one it deleted for good.
		api    func(t *testing.T) (http.Handler, func() (changed, added, deleted string))
		listed int64 // the orders the second run lists
	}{
		{kind: connect.Shopify, secret: "shpat_good", listed: 2,
			api: func(t *testing.T) (http.Handler, func() (string, string, string)) {
				data, err := shopifyapi.FromFakeStore()
				if err != nil {
					t.Fatal(err)
				}
				api := shopifyapi.NewServer(shopifyapi.Config{Token: "shpat_good"}, data)
				first, last := data["orders"][0].ID, data["orders"][len(data["orders"])-1].ID
				return api, func() (string, string, string) {
					api.Upsert("orders", shopifyNode(t, data, "orders", 0, first, changedAt))
					api.Upsert("orders", shopifyNode(t, data, "orders", 1, "gid://shopify/Order/999", changedAt))
					api.Delete("orders", last, changedAt)
					return first, "gid://shopify/Order/999", last
				}
			}},
		{kind: connect.WooCommerce, secret: "ck_good:cs_good", listed: 3,
			api: func(t *testing.T) (http.Handler, func() (string, string, string)) {
				data, err := wooapi.FromFakeStore()
				if err != nil {
					t.Fatal(err)
				}
				api := wooapi.NewServer(wooapi.Config{ConsumerKey: "ck_good", ConsumerSecret: "cs_good"}, data)
				return api, func() (string, string, string) {
					line := wooapi.OrderLine{ProductID: 1, Quantity: 2, Price: "0.10"}
					api.Put("orders", wooapi.Order(1, 1, "completed", changedAt, line))
					api.Put("orders", wooapi.Order(999, 0, "processing", changedAt, line))
					api.Put("orders", wooapi.Order(2, 1, "trash", changedAt, line))
					api.Remove("orders", 7)
					return "1", "999", "7"
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			api, change := tc.api(t)
			h := newStoreHarness(t, tc.kind, api, tc.secret)
			bucket := h.gcs.Bucket("raw")
			cursorObject := state.CursorObject(tc.kind, "orders")
			orders := func(s Summary) EntityResult {
				for _, e := range s.Entities {
					if e.Entity == model.CanonicalOrders {
						return e
					}
				}
				t.Fatalf("no orders in %+v", s)
				return EntityResult{}
			}
			run := func(body string) EntityResult {
				t.Helper()
				code, sum, raw := h.call(t, body)
				if code != http.StatusOK {
					t.Fatalf("status %d: %s", code, raw)
				}
				return orders(sum)
			}

			if first := run(`{"entities":["orders"]}`); first.From != "" || first.Valid != 7 {
				t.Fatalf("first run: %+v, want every order listed", first)
			}
			cursorBefore := laketest.Read(t, bucket, cursorObject)

			changed, added, deleted := change()
			h.fn.deps.Now = func() time.Time { return testNow.Add(24 * time.Hour) }
			second := run(`{"entities":["orders"]}`)
			if second.From == "" || second.Fetched != tc.listed || second.Deleted != 1 || second.Kept != 7-1-(tc.listed-1) {
				t.Errorf("second run: %+v; want it to list only the %d orders changed since the cursor, keep the others, leave out the deleted one", second, tc.listed)
			}
			day2 := laketest.Read(t, bucket, lake.RawObject(model.CanonicalOrders, testNow.Add(24*time.Hour)))
			got := map[string]model.CanonicalOrder{}
			for _, o := range lines[model.CanonicalOrder](t, day2) {
				got[o.SourceID] = o
			}
			if len(got) != 7 || !got[changed].UpdatedAt.Equal(changedAt) || got[added].SourceID == "" || got[deleted].SourceID != "" {
				t.Errorf("second snapshot holds %d orders (changed %s at %s, added %q, deleted %q still there: %v); want 7, the change, the new one and not the deleted one",
					len(got), changed, got[changed].UpdatedAt, got[added].SourceID, deleted, got[deleted].SourceID != "")
			}
			cursorAfter := laketest.Read(t, bucket, cursorObject)
			if cursorAfter == cursorBefore || !strings.Contains(cursorAfter, changedAt.Format("2006-01-02T15:04:05")) {
				t.Errorf("the cursor did not move to %s: %s", changedAt, cursorAfter)
			}

			// Published, but the cursor not moved (a run killed in between):
			// the next run lists from the old cursor to the same snapshot.
			w := bucket.Object(cursorObject).NewWriter(context.Background())
			if _, err := w.Write([]byte(cursorBefore)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			third := run(`{"entities":["orders"]}`)
			if !third.Unchanged || third.Fetched != tc.listed {
				t.Errorf("rerun from the old cursor: %+v; want the same %d orders listed and the snapshot unchanged", third, tc.listed)
			}
			if again := laketest.Read(t, bucket, lake.RawObject(model.CanonicalOrders, testNow.Add(24*time.Hour))); again != day2 {
				t.Errorf("the rerun rewrote the snapshot")
			}
			if c := laketest.Read(t, bucket, cursorObject); c != cursorAfter {
				t.Errorf("the rerun's cursor %s, want the second run's %s", c, cursorAfter)
			}
		})
	}
}
