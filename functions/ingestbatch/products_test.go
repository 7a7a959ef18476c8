package ingestbatch

import (
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

// modifiedAt is when the test store's product i (from 0) was last modified:
// an hour apart, so that the lookback reads again only the newest.
func modifiedAt(i int) time.Time { return testNow.Add(time.Duration(i-48) * time.Hour) }

// TestProductsAreReadFromTheirCursor: the first snapshot of a WooCommerce
// store's products lists them all; the next lists only those modified since
// its cursor and merges them into the last snapshot: a changed product
// replaced, a new one added, a trashed one kept as a deletion, and one
// deleted for good left out, found by the reconcile of ids (WooCommerce)
// or the feed of deletions (Shopify's deletionEvents). A Shopify catalogue
// is exported whole in bulk on the first run, and again once
// SOURCE_FULL_EXPORT_EVERY has passed.
func TestProductsAreReadFromTheirCursor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind, secret string
		// api is the store; change changes it, and says the product it
		// changed, the one it added, the one it trashed (if any) and the
		// one it deleted for good.
		api    func(t *testing.T) (http.Handler, func() (changed, added, trashed, deleted string))
		listed int64 // the products the second run lists
	}{
		{kind: connect.Shopify, secret: "shpat_good", listed: 2,
			api: func(t *testing.T) (http.Handler, func() (string, string, string, string)) {
				data, err := shopifyapi.FromFakeStore()
				if err != nil {
					t.Fatal(err)
				}
				api := shopifyapi.NewServer(shopifyapi.Config{Token: "shpat_good"}, data)
				for i, n := range data["products"] {
					api.Upsert("products", shopifyNode(t, data, "products", i, n.ID, modifiedAt(i)))
				}
				first, last := data["products"][0].ID, data["products"][len(data["products"])-1].ID
				return api, func() (string, string, string, string) {
					api.Upsert("products", shopifyNode(t, data, "products", 0, first, changedAt))
					api.Upsert("products", shopifyNode(t, data, "products", 1, "gid://shopify/Product/999", changedAt))
					api.Delete("products", last, changedAt)
					return first, "gid://shopify/Product/999", "", last
				}
			}},
		{kind: connect.WooCommerce, secret: "ck_good:cs_good", listed: 3,
			api: func(t *testing.T) (http.Handler, func() (string, string, string, string)) {
				data, err := wooapi.FromFakeStore()
				if err != nil {
					t.Fatal(err)
				}
				api := wooapi.NewServer(wooapi.Config{ConsumerKey: "ck_good", ConsumerSecret: "cs_good"}, data)
				for i := range 20 {
					api.Put("products", wooapi.Product(int64(i+1), "publish", modifiedAt(i), "Product", "bags", "1.00"))
				}
				return api, func() (string, string, string, string) {
					api.Put("products", wooapi.Product(1, "publish", changedAt, "Backpack, renamed", "bags", "109.95"))
					api.Put("products", wooapi.Product(999, "publish", changedAt, "New", "bags", "0.10"))
					api.Put("products", wooapi.Product(2, "trash", changedAt, "Trashed", "bags", "1.00"))
					api.Remove("products", 20)
					return "1", "999", "2", "20"
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			api, change := tc.api(t)
			h := newStoreHarness(t, tc.kind, api, tc.secret)
			bucket := h.gcs.Bucket("raw")
			cursorObject := state.CursorObject(tc.kind, "products")
			run := func() EntityResult {
				t.Helper()
				code, sum, raw := h.call(t, `{"entities":["products"]}`)
				if code != http.StatusOK || len(sum.Entities) != 1 {
					t.Fatalf("status %d: %s", code, raw)
				}
				return sum.Entities[0]
			}

			if first := run(); first.From != "" || first.Valid != 20 {
				t.Fatalf("first run: %+v, want every product listed", first)
			}
			cursorBefore := laketest.Read(t, bucket, cursorObject)

			changed, added, trashed, deleted := change()
			h.fn.deps.Now = func() time.Time { return testNow.Add(24 * time.Hour) }
			second := run()
			if second.From == "" || second.Fetched != tc.listed || second.Deleted != 1 || second.Kept != 20-1-(tc.listed-1) {
				t.Errorf("second run: %+v; want it to list only the %d products changed since the cursor, keep the others, leave out the deleted one", second, tc.listed)
			}
			day2 := laketest.Read(t, bucket, lake.RawObject(model.CanonicalProducts, testNow.Add(24*time.Hour)))
			got := map[string]model.CanonicalProduct{}
			for _, p := range lines[model.CanonicalProduct](t, day2) {
				got[p.SourceID] = p
			}
			if len(got) != 20 || !got[changed].UpdatedAt.Equal(changedAt) || got[added].SourceID == "" || got[deleted].SourceID != "" {
				t.Errorf("second snapshot holds %d products (changed %s at %s, added %q, deleted %q still there: %v); want 20, the change, the new one and not the deleted one",
					len(got), changed, got[changed].UpdatedAt, got[added].SourceID, deleted, got[deleted].SourceID != "")
			}
			if trashed != "" && !got[trashed].Deleted {
				t.Errorf("trashed product %s: %+v, want it kept as a deletion", trashed, got[trashed])
			}
			if c := laketest.Read(t, bucket, cursorObject); c == cursorBefore || !strings.Contains(c, changedAt.Format("2006-01-02T15:04:05")) {
				t.Errorf("the cursor did not move to %s: %s", changedAt, c)
			}
			if tc.kind != connect.Shopify {
				return
			}
			// Six days after the full export, still from the cursor; seven,
			// the weekly export in full (in bulk).
			for _, c := range []struct {
				days int
				full bool
			}{{6, false}, {7, true}} {
				h.fn.deps.Now = func() time.Time { return testNow.Add(time.Duration(c.days) * 24 * time.Hour) }
				res := run()
				if full := res.From == ""; full != c.full || (c.full && res.Fetched != 20) {
					t.Errorf("day %d: %+v; want listed in full: %v", c.days, res, c.full)
				}
			}
		})
	}
}

// TestASameDayRerunKeepsWhatIsGoneAsTombstones: a second run on the same
// day replaces the day's snapshot, so a record deleted since the first is
// written as a tombstone (deleted) rather than left out, whether the
// snapshot is listed whole (Shopify's products) or merged from a cursor
// (WooCommerce's orders); a third run that day keeps the tombstone without
// counting it again, and the next day's snapshot leaves it out, the day
// before holding the tombstone.
func TestASameDayRerunKeepsWhatIsGoneAsTombstones(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind, secret, entity, name string
		records                    int
		api                        func(t *testing.T) (http.Handler, func() (deleted string))
	}{
		{kind: connect.Shopify, secret: "shpat_good", entity: model.CanonicalProducts, name: "products", records: 20,
			api: func(t *testing.T) (http.Handler, func() string) {
				data, err := shopifyapi.FromFakeStore()
				if err != nil {
					t.Fatal(err)
				}
				api := shopifyapi.NewServer(shopifyapi.Config{Token: "shpat_good"}, data)
				last := data["products"][len(data["products"])-1].ID
				return api, func() string { api.Delete("products", last, changedAt); return last }
			}},
		{kind: connect.WooCommerce, secret: "ck_good:cs_good", entity: model.CanonicalOrders, name: "orders", records: 7,
			api: func(t *testing.T) (http.Handler, func() string) {
				data, err := wooapi.FromFakeStore()
				if err != nil {
					t.Fatal(err)
				}
				api := wooapi.NewServer(wooapi.Config{ConsumerKey: "ck_good", ConsumerSecret: "cs_good"}, data)
				return api, func() string { api.Remove("orders", 7); return "7" }
			}},
	}
	for _, tc := range cases {
		t.Run(tc.kind+" "+tc.name, func(t *testing.T) {
			t.Parallel()
			api, deleteOne := tc.api(t)
			h := newStoreHarness(t, tc.kind, api, tc.secret)
			bucket := h.gcs.Bucket("raw")
			run := func(day time.Time) (EntityResult, map[string]model.Record) {
				t.Helper()
				h.fn.deps.Now = func() time.Time { return day }
				code, sum, raw := h.call(t, `{"entities":["`+tc.name+`"]}`)
				if code != http.StatusOK || len(sum.Entities) != 1 {
					t.Fatalf("status %d: %s", code, raw)
				}
				got := map[string]model.Record{}
				for _, r := range lines[model.Record](t, laketest.Read(t, bucket, lake.RawObject(tc.entity, day))) {
					got[r.SourceID] = r
				}
				return sum.Entities[0], got
			}
			run(testNow)
			deleted := deleteOne()
			for i, want := range []int64{1, 0} {
				res, got := run(testNow.Add(time.Duration(i+1) * time.Hour))
				if res.Deleted != want || len(got) != tc.records || !got[deleted].Deleted {
					t.Errorf("rerun %d the same day: %+v; %d records, %s %+v; want %d counted deleted, %d records, %s a tombstone",
						i+1, res, len(got), deleted, got[deleted], want, tc.records, deleted)
				}
			}
			if _, got := run(testNow.Add(24 * time.Hour)); len(got) != tc.records-1 || got[deleted].SourceID != "" {
				t.Errorf("the next day's snapshot holds %d records, %s %+v; want %d, without it", len(got), deleted, got[deleted], tc.records-1)
			}
		})
	}
}
