package ingestbatch

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/functions/local/wooapi"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/source/connect"
)

// storeCase is a store stand-in seeded from the FakeStore fixtures, the
// credentials it accepts, and the credentials of a wrong key.
type storeCase struct {
	kind       string
	api        func(t *testing.T) http.Handler
	good, bad  string
	refusedMsg string
}

var storeCases = []storeCase{
	{kind: connect.Shopify, good: "shpat_good", bad: "shpat_wrong", refusedMsg: "401",
		api: func(t *testing.T) http.Handler {
			data, err := shopifyapi.FromFakeStore()
			if err != nil {
				t.Fatal(err)
			}
			return shopifyapi.NewServer(shopifyapi.Config{Token: "shpat_good"}, data)
		}},
	{kind: connect.WooCommerce, good: "ck_good:cs_good", bad: "ck_good:cs_wrong", refusedMsg: "401",
		api: func(t *testing.T) http.Handler {
			data, err := wooapi.FromFakeStore()
			if err != nil {
				t.Fatal(err)
			}
			return wooapi.NewServer(wooapi.Config{ConsumerKey: "ck_good", ConsumerSecret: "cs_good"}, data)
		}},
}

// newStoreHarness is IngestBatch reading the store api serves, of kind
// kind, with the credentials secret.
func newStoreHarness(t *testing.T, kind string, api http.Handler, secret string) *harness {
	t.Helper()
	return newHarnessEnv(t, api, map[string]string{"SOURCE_KIND": kind, "SOURCE_API_KEY": secret,
		"SOURCE_MAX_RETRIES": "1", "SHOPIFY_BULK_POLL": "10ms"})
}

// lines decodes an NDJSON object's records into T.
func lines[T any](t *testing.T, body string) []T {
	t.Helper()
	var out []T
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, v)
	}
	return out
}

func TestStoresAreSnapshottedAsCanonicalRecords(t *testing.T) {
	t.Parallel()
	for _, sc := range storeCases {
		t.Run(sc.kind, func(t *testing.T) {
			t.Parallel()
			api := sc.api(t)
			h := newStoreHarness(t, sc.kind, api, sc.good)
			code, sum, body := h.call(t, "")
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			if sum.Source != sc.kind {
				t.Errorf("summary names the source %q, want %q", sum.Source, sc.kind)
			}
			want := map[string]int64{model.CanonicalProducts: 20, model.CanonicalCustomers: 10, model.CanonicalOrders: 7}
			if len(sum.Entities) != len(want) {
				t.Fatalf("entities %+v, want %v", sum.Entities, want)
			}
			for _, e := range sum.Entities {
				if e.Valid != want[e.Entity] || e.Rejected != 0 || e.Object != lake.RawObject(e.Entity, testNow) {
					t.Errorf("%s: %+v, want %d valid records at %s", e.Entity, e, want[e.Entity], lake.RawObject(e.Entity, testNow))
				}
			}
			objs := h.objects(t)
			if shop, ok := api.(*shopifyapi.Server); ok {
				// A Shopify catalogue is read whole by a bulk export, not paged.
				if n := shop.Stats().Nodes["products"]; n != 0 {
					t.Errorf("%d products were paged; want them all from the bulk export", n)
				}
			}

			// Money is exact from the store's text to the lake.
			var revenue money.Amount
			for _, o := range lines[model.CanonicalOrder](t, objs[lake.RawObject(model.CanonicalOrders, testNow)]) {
				if o.Origin.Kind != sc.kind || o.SourceID == "" || o.Currency != "USD" {
					t.Errorf("order %+v: want source %s, an id and USD", o.Record, sc.kind)
				}
				sum, unpriced := o.Revenue()
				if unpriced != 0 {
					t.Errorf("order %s has %d unpriced lines; the store prices them", o.SourceID, unpriced)
				}
				revenue = revenue.Add(sum)
			}
			if revenue.String() != "4691.27" {
				t.Errorf("revenue of the orders = %s, want exactly 4691.27 (as the FakeStore fixtures)", revenue)
			}

			// No e-mail address reaches the lake: its pseudonym does.
			customers := objs[lake.RawObject(model.CanonicalCustomers, testNow)]
			if strings.Contains(customers, "@") || strings.Contains(customers, `"email"`) {
				t.Errorf("customers hold an e-mail address:\n%s", customers)
			}
			for _, c := range lines[model.CanonicalCustomer](t, customers) {
				if c.EmailHash != testKey.Email(fixtureEmail(t, c.SourceID)) {
					t.Errorf("customer %s: email_hash %q is not the pseudonym of the fixture's address", c.SourceID, c.EmailHash)
				}
			}

			// A second run over the same store publishes nothing new.
			code, again, body := h.call(t, "")
			if code != http.StatusOK {
				t.Fatalf("second run: status %d: %s", code, body)
			}
			for _, e := range again.Entities {
				if !e.Unchanged {
					t.Errorf("second run rewrote %s: %+v", e.Entity, e)
				}
			}
			if diff := laketest.Objects(t, h.gcs.Bucket("raw")); len(diff) != len(objs) {
				t.Errorf("second run left %d objects, want the first run's %d", len(diff), len(objs))
			}
		})
	}
}

// fixtureEmail is the e-mail address of the FakeStore fixtures' user id.
func fixtureEmail(t *testing.T, id string) string {
	t.Helper()
	snap, err := storefront.DecodeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range snap.Users {
		n := strconv.FormatInt(u.ID, 10)
		if id == n || strings.HasSuffix(id, "/"+n) {
			return u.Email
		}
	}
	t.Fatalf("no fixture user %s", id)
	return ""
}

func TestRefusedCredentialsLeaveTheLakeUntouched(t *testing.T) {
	t.Parallel()
	for _, sc := range storeCases {
		t.Run(sc.kind, func(t *testing.T) {
			t.Parallel()
			api := sc.api(t)
			good := newStoreHarness(t, sc.kind, api, sc.good)
			if code, _, body := good.call(t, ""); code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			before := good.objects(t)

			// The same lake, read with a wrong key.
			bad := newStoreHarness(t, sc.kind, api, sc.bad)
			bad.gcs = good.gcs
			lw, err := lake.NewWriter(lake.Config{Bucket: "raw"}, good.gcs)
			if err != nil {
				t.Fatal(err)
			}
			bad.fn.deps.Lake = lw
			code, sum, body := bad.call(t, `{"date":"2026-11-23"}`)
			if code != http.StatusBadGateway {
				t.Fatalf("wrong credentials: status %d, want 502: %s", code, body)
			}
			t.Logf("refused: %s", body)
			if sum.Status != "failed" || !strings.Contains(body, "SOURCE_API_KEY") || !strings.Contains(body, sc.refusedMsg) {
				t.Errorf("the error should name where the credentials came from and the status: %s", body)
			}
			if strings.Contains(body+bad.logs.String(), "wrong") {
				t.Errorf("the credentials leaked into the answer or the logs: %s\n%s", body, bad.logs.String())
			}
			after := good.objects(t)
			if len(after) != len(before) {
				t.Fatalf("the lake changed: %d objects, then %d", len(before), len(after))
			}
			for name, b := range before {
				if after[name] != b {
					t.Errorf("%s changed", name)
				}
			}
		})
	}
}
