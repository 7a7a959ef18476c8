package storefront

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/drift"
	"github.com/shoplake/shoplake/shared/model"
)

func TestCatalogsServeValidArrays(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		catalog Catalog
		want    int
	}{
		{"fixtures", Fixtures(), -1},
		{"synthetic", Synthetic(250), 250},
	}
	wantFixture := map[string]int{"products": 20, "users": 10, "carts": 7}
	for _, tc := range cases {
		for _, e := range []model.Entity{model.Products, model.Users, model.Carts} {
			t.Run(tc.name+"/"+e.Name, func(t *testing.T) {
				t.Parallel()
				srv := NewServer(tc.catalog)
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, e.Path, nil))
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d", rec.Code)
				}
				var elems []json.RawMessage
				if err := json.Unmarshal(rec.Body.Bytes(), &elems); err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if want < 0 {
					want = wantFixture[e.Name]
				}
				if len(elems) != want || srv.Served() != int64(want) {
					t.Errorf("got %d elements, served counter %d, want %d", len(elems), srv.Served(), want)
				}
				tracker := drift.NewTracker(e.Schema())
				for i, raw := range elems {
					if _, err := e.Decode(raw); err != nil {
						t.Fatalf("element %d invalid: %v", i, err)
					}
					tracker.Observe(raw)
				}
				if r := tracker.Report(); r.Drifted() || r.Records != int64(want) {
					t.Errorf("drift against the model over %d records: %s", r.Records, r)
				}
			})
		}
	}
}

func TestSyntheticIsDeterministic(t *testing.T) {
	t.Parallel()
	var a, b bytes.Buffer
	if _, _, err := Synthetic(100).WriteEntity(&a, "users"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Synthetic(100).WriteEntity(&b, "users"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two synthetic catalogs of the same size differ")
	}
}

func TestUnknownCollectionIs404(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	NewServer(Fixtures()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("status %d, want 404", rec.Code)
	}
}

func TestSyntheticChangingChangesAFewCartsPerRead(t *testing.T) {
	t.Parallel()
	c := SyntheticChanging(1000)
	read := func() []json.RawMessage {
		var b bytes.Buffer
		if _, _, err := c.WriteEntity(&b, "carts"); err != nil {
			t.Fatal(err)
		}
		var out []json.RawMessage
		if err := json.Unmarshal(b.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first, second := read(), read()
	changed := 0
	for i := range first {
		if !bytes.Equal(first[i], second[i]) {
			changed++
		}
	}
	if changed == 0 || changed > 20 {
		t.Errorf("%d of 1000 carts changed between reads, want about 1%%", changed)
	}
}

func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	for entity, want := range map[string]int{"products": 20, "users": 10, "carts": 7} {
		var records []map[string]any
		if err := DecodeFixtures(entity, &records); err != nil || len(records) != want {
			t.Errorf("%s: %d records, %v; want %d", entity, len(records), err, want)
		}
	}
	if err := DecodeFixtures("orders", &[]any{}); err == nil {
		t.Error("fixtures of an unknown entity decoded")
	}
}

// TestServedCountsWhileTheResponseIsWritten: progress reports read Served
// while a long listing is still being sent, so it must count as it goes and
// end at the number of elements.
func TestServedCountsWhileTheResponseIsWritten(t *testing.T) {
	t.Parallel()
	const n = 200000
	srv := NewServer(Synthetic(n))
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	resp, err := ts.Client().Get(ts.URL + "/products")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The client reads nothing more: the server blocks once the
	// connection's buffers are full, part of the way through.
	deadline := time.Now().Add(10 * time.Second)
	for srv.Served() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := srv.Served(); got == 0 || got >= n {
		t.Fatalf("Served() = %d while the response is half written, want between 0 and %d", got, n)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	for srv.Served() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := srv.Served(); got != n {
		t.Errorf("Served() = %d after the response, want %d", got, n)
	}
}
