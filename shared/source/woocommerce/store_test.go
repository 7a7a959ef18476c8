package woocommerce

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/functions/local/wooapi"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/source"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// orders are n orders, the i-th modified i minutes after t0, one line each.
func orders(n int) []wooapi.Record {
	out := make([]wooapi.Record, n)
	for i := range out {
		out[i] = wooapi.Order(int64(i+1), int64(i%7+1), "completed", t0.Add(time.Duration(i)*time.Minute),
			wooapi.OrderLine{ProductID: 1, Quantity: 1, Price: "0.10"})
	}
	return out
}

type fixture struct {
	api   *wooapi.Server
	store *Store
}

func newFixture(t *testing.T, data map[string][]wooapi.Record, cfg Config) *fixture {
	t.Helper()
	api := wooapi.NewServer(wooapi.Config{ConsumerKey: "ck_test", ConsumerSecret: "cs_test"}, data)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	cfg.BaseURL, cfg.CredentialsName = srv.URL, "WOOCOMMERCE_CREDENTIALS"
	if cfg.ConsumerKey == "" {
		cfg.ConsumerKey, cfg.ConsumerSecret = "ck_test", "cs_test"
	}
	cfg.HTTP.RequestsPerSecond = 1000
	cfg.HTTP.BackoffBase, cfg.HTTP.BackoffMax = 20*time.Millisecond, 50*time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{api: api, store: s}
}

// orderIDs lists the orders modified after since, validated, by id.
func (f *fixture) orders(t *testing.T, since time.Time) ([]*model.CanonicalOrder, error) {
	t.Helper()
	var out []*model.CanonicalOrder
	err := f.store.Orders(context.Background(), since, func(o *model.CanonicalOrder, err error) error {
		if err == nil {
			err = model.Validate(o)
		}
		if err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	return out, err
}

// once runs hook's answer on the first request for each page.
func once(handler func(endpoint string, page int) http.Handler) wooapi.Hook {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(endpoint string, page, _ int) http.Handler {
		mu.Lock()
		defer mu.Unlock()
		key := endpoint + string(rune('0'+page))
		if seen[key] {
			return nil
		}
		seen[key] = true
		return handler(endpoint, page)
	}
}

// TestEveryPageIsFollowedWhenARecordIsAdded: an order added while the
// listing is read lands at its end; every order comes once.
func TestEveryPageIsFollowedWhenARecordIsAdded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string][]wooapi.Record{"orders": orders(250)}, Config{})
	f.api.OnRequest(once(func(_ string, page int) http.Handler {
		if page == 2 {
			f.api.Put("orders", wooapi.Order(1000, 0, "processing", t0, wooapi.OrderLine{ProductID: 2, Quantity: 1, Price: "1"}))
		}
		return nil
	}))
	got, err := f.orders(t, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range got {
		if seen[o.SourceID] {
			t.Fatalf("order %s listed twice", o.SourceID)
		}
		seen[o.SourceID] = true
	}
	if len(got) != 251 || !seen["1"] || !seen["250"] || !seen["1000"] {
		t.Errorf("%d orders, want the 250 and the one added", len(got))
	}
}

// TestARecordRemovedWhileReadStartsTheListingOver: an order deleted from an
// earlier page would shift the next one out of sight; the listing says so
// as a transient failure, for the caller's Retry to start over.
func TestARecordRemovedWhileReadStartsTheListingOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string][]wooapi.Record{"orders": orders(250)}, Config{})
	f.api.OnRequest(once(func(_ string, page int) http.Handler {
		if page == 2 {
			f.api.Remove("orders", 5)
		}
		return nil
	}))
	_, err := f.orders(t, time.Time{})
	if !errors.Is(err, ErrChanged) || !errors.Is(err, source.ErrTransient) || !strings.Contains(err.Error(), "X-WP-Total fell from 250 to 249 by page 2") {
		t.Fatalf("error %v, want a transient ErrChanged", err)
	}
	got, err := f.orders(t, time.Time{}) // the caller's next attempt
	if err != nil || len(got) != 249 {
		t.Errorf("the listing started over: %d orders, %v", len(got), err)
	}
}

// TestASecondRunFetchesOnlyWhatChanged: modified_after (GMT) lists only the
// orders modified since, in one request per status.
func TestASecondRunFetchesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string][]wooapi.Record{"orders": orders(250)}, Config{})
	if got, err := f.orders(t, time.Time{}); err != nil || len(got) != 250 {
		t.Fatalf("%d, %v", len(got), err)
	}
	cursor := t0.Add(249 * time.Minute)
	f.api.Put("orders", wooapi.Order(17, 3, "completed", cursor.Add(time.Minute), wooapi.OrderLine{ProductID: 1, Quantity: 2, Price: "0.10"}))
	before := f.api.Requests()
	got, err := f.orders(t, cursor)
	if err != nil || len(got) != 1 || got[0].SourceID != "17" {
		t.Fatalf("incremental listing: %v, %v", got, err)
	}
	if sum, _ := got[0].Revenue(); sum.String() != "0.2" {
		t.Errorf("revenue %s, want exactly 0.2", sum)
	}
	if n := f.api.Requests() - before; n != 2 {
		t.Errorf("%d requests, want 2 (orders, then the trash)", n)
	}
}

// TestTrashedDeletedAndGuestOrders: an order in the trash is a deletion; one
// deleted for good is missing from the reconcile of ids; customer_id 0 is a
// guest.
func TestTrashedDeletedAndGuestOrders(t *testing.T) {
	t.Parallel()
	rs := orders(5)
	rs[1] = wooapi.Order(2, 0, "processing", t0, wooapi.OrderLine{ProductID: 1, Quantity: 1, Price: "5"})
	rs[2] = wooapi.Order(3, 4, "trash", t0, wooapi.OrderLine{ProductID: 1, Quantity: 1, Price: "5"})
	f := newFixture(t, map[string][]wooapi.Record{"orders": rs}, Config{})
	f.api.Remove("orders", 4)
	got, err := f.orders(t, time.Time{})
	if err != nil || len(got) != 4 {
		t.Fatalf("%d orders, %v", len(got), err)
	}
	byID := map[string]*model.CanonicalOrder{}
	for _, o := range got {
		byID[o.SourceID] = o
	}
	if o := byID["2"]; o == nil || o.CustomerID != "" || o.Deleted {
		t.Errorf("guest order: %+v", o)
	}
	if o := byID["3"]; o == nil || !o.Deleted {
		t.Errorf("trashed order: %+v", o)
	}
	var ids []string
	if err := f.store.OrderIDs(context.Background(), func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, " ") != "1 2 5 3" {
		t.Errorf("ids %v, want 1 2 5 and the trashed 3; 4 was deleted for good", ids)
	}
}

// TestRefusals: what no retry mends ends the listing at once, in one line
// that names the cause and never the credentials.
func TestRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		cfg      Config
		hook     http.Handler
		want     error
		msg      string
		requests int
	}{
		{name: "wrong secret", cfg: Config{ConsumerKey: "ck_test", ConsumerSecret: "cs_wrong"}, want: ErrRefused,
			msg: "woocommerce refused the credentials (HTTP 401, woocommerce_rest_cannot_view) read from WOOCOMMERCE_CREDENTIALS"},
		{name: "wrong secret in the query", cfg: Config{ConsumerKey: "ck_test", ConsumerSecret: "cs_wrong", QueryAuth: true}, want: ErrRefused, msg: "HTTP 401"},
		{name: "refused mid-run", hook: wooapi.Refuse(), want: ErrRefused, msg: "woocommerce_rest_authentication_error", requests: 1},
		{name: "HTML with status 200", hook: wooapi.HTMLPage(), want: ErrNotJSON, msg: `Content-Type "text/html; charset=UTF-8", starting "<!DOCTYPE html>`, requests: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, map[string][]wooapi.Record{"orders": orders(10)}, tc.cfg)
			if tc.hook != nil {
				f.api.OnRequest(func(string, int, int) http.Handler { return tc.hook })
			}
			_, err := f.orders(t, time.Time{})
			if !errors.Is(err, tc.want) || errors.Is(err, source.ErrTransient) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %v saying %q, not transient", err, tc.want, tc.msg)
			}
			if strings.Contains(err.Error(), "cs_") || strings.Contains(err.Error(), "ck_") {
				t.Errorf("the error shows a credential: %v", err)
			}
			if f.api.Requests() != tc.requests {
				t.Errorf("%d requests answered, want %d: no retry", f.api.Requests(), tc.requests)
			}
		})
	}
}

// TestPlainHTTPOnlyToLoopback: the credentials never cross the network in
// the clear.
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	t.Parallel()
	for url, ok := range map[string]bool{"http://shop.example.com": false, "http://10.0.0.5:8080": false, "https://shop.example.com": true,
		"http://127.0.0.1:8080": true, "http://localhost": true, "http://[::1]:80": true} {
		_, err := New(Config{BaseURL: url, ConsumerKey: "k", ConsumerSecret: "s"})
		if (err == nil) != ok {
			t.Errorf("New(%s) = %v", url, err)
		}
	}
}

// TestTransientAnswersAreRiddenOut: a run of 503s with Retry-After, a page
// cut off, and a page dripping a byte every 200 ms (SOURCE_TIMEOUT 1s) each
// end as a clean listing.
func TestTransientAnswersAreRiddenOut(t *testing.T) {
	t.Parallel()
	full := httptest.NewServer(wooapi.NewServer(wooapi.Config{ConsumerKey: "ck_test", ConsumerSecret: "cs_test"}, map[string][]wooapi.Record{"orders": orders(250)}))
	t.Cleanup(full.Close)
	// answer is the real page, as the stand-in without faults gives it.
	answer := func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := r.Clone(r.Context())
		req.URL.Host, req.URL.Scheme, req.RequestURI = strings.TrimPrefix(full.URL, "http://"), "http", ""
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			rec.Header()[k] = v
		}
		rec.WriteHeader(resp.StatusCode)
		_, _ = rec.Body.ReadFrom(resp.Body)
		return rec
	}
	cases := map[string]func(endpoint string, page int) http.Handler{
		"503 run": func(_ string, page int) http.Handler {
			if page == 1 {
				return wooapi.Unavailable()
			}
			return nil
		},
		"page cut off": func(string, int) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				storefront.CutOff(w, answer(r), false)
			})
		},
		"a byte every 200 ms": func(string, int) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				storefront.Trickle(w, r, answer(r), 200*time.Millisecond)
			})
		},
	}
	for name, fault := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, map[string][]wooapi.Record{"orders": orders(250)}, Config{HTTP: source.Config{Timeout: time.Second}})
			f.api.OnRequest(once(fault))
			got, err := f.orders(t, time.Time{})
			if err != nil || len(got) != 250 {
				t.Fatalf("%d orders, %v", len(got), err)
			}
		})
	}
}
