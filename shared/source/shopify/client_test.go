package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/shared/source"
)

var epoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// products are n products, the i-th updated i minutes after epoch.
func products(n int) []shopifyapi.Node {
	out := make([]shopifyapi.Node, n)
	for i := range out {
		id := fmt.Sprintf("gid://shopify/Product/%d", i+1)
		at := epoch.Add(time.Duration(i) * time.Minute)
		out[i] = shopifyapi.Node{ID: id, UpdatedAt: at, JSON: json.RawMessage(fmt.Sprintf(
			`{"id":%q,"title":"p%d","updatedAt":%q,"variants":{"nodes":[{"id":"gid://shopify/ProductVariant/%d","sku":"S%d","price":"%d.10"}]}}`,
			id, i+1, at.Format(time.RFC3339), i+1, i+1, i+1))}
	}
	return out
}

// clock is a fake time shared by the stand-in and the client: the client's
// waits move it on instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

type fixture struct {
	api    *shopifyapi.Server
	client *Client
	clock  *clock
}

// newFixture serves n products on a bucket of 1,000 points restoring 50 a
// second (or bucket, when set), on a fake clock unless realTime.
func newFixture(t *testing.T, n int, cfg Config, realTime bool, bucket ...shopifyapi.Bucket) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: epoch.Add(30 * 24 * time.Hour)}}
	sc := shopifyapi.Config{Token: "shpat_test", Versions: []string{"2025-07"}}
	if len(bucket) > 0 {
		sc.Bucket = bucket[0]
	}
	if !realTime {
		sc.Now = f.clock.now
	}
	f.api = shopifyapi.NewServer(sc, shopifyapi.Connections{"products": products(n)})
	srv := httptest.NewServer(f.api)
	t.Cleanup(srv.Close)
	cfg.BaseURL, cfg.APIVersion, cfg.TokenName = srv.URL, "2025-07", "SHOPIFY_ACCESS_TOKEN"
	if cfg.AccessToken == "" {
		cfg.AccessToken = "shpat_test"
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !realTime {
		c.now, c.sleep = f.clock.now, f.clock.sleep
	}
	f.client = c
	return f
}

// ids lists the products a listing returns.
func (f *fixture) ids(t *testing.T, vars map[string]any) ([]string, error) {
	t.Helper()
	var ids []string
	err := f.client.Each(context.Background(), "Products", productsQuery, "products", vars, func(node json.RawMessage) error {
		var p struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(node, &p); err != nil {
			return err
		}
		ids = append(ids, p.ID)
		return nil
	})
	return ids, err
}

// TestEachFollowsEveryPage: 600 products come in three pages of at most
// 250, each once and in order; and the pacing keeps THROTTLED answers at 0
// on a bucket of 1,000 points restoring 50 a second.
func TestEachFollowsEveryPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 600, Config{}, false)
	ids, err := f.ids(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 600 || ids[0] != "gid://shopify/Product/1" || ids[599] != "gid://shopify/Product/600" {
		t.Fatalf("%d products (%v … %v), want 600 in order", len(ids), ids[:1], ids[len(ids)-1:])
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
	}
	if s := f.api.Stats(); s.Requests != 3 || s.Throttled != 0 {
		t.Errorf("stand-in saw %d requests and throttled %d, want 3 and 0", s.Requests, s.Throttled)
	}
}

// TestPacingKeepsThrottlingAtZero: twenty full pages cost ten times the
// bucket; the client waits for the bucket as the answers report it, so the
// store never throttles, and the waits are what the restore rate needs.
func TestPacingKeepsThrottlingAtZero(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 5000, Config{}, false)
	began := f.clock.now()
	ids, err := f.ids(t, nil)
	if err != nil || len(ids) != 5000 {
		t.Fatalf("%d products, error %v", len(ids), err)
	}
	s, cs := f.api.Stats(), f.client.Stats()
	if s.Throttled != 0 || cs.Throttled != 0 || s.Requests != 20 {
		t.Errorf("%d requests, %d throttled; want 20 and none", s.Requests, s.Throttled)
	}
	// 20 pages of 502 points, 1,000 in the bucket: 9,040 to restore at 50/s.
	if took := f.clock.now().Sub(began); took < 180*time.Second || took > 182*time.Second {
		t.Errorf("the listing waited %s, want about 181 s (what the restore rate needs)", took)
	}
}

// TestThrottleStormIsRiddenOut: answers THROTTLED (HTTP 200, as the
// GraphQL API sends them) are waited out and asked again.
func TestThrottleStormIsRiddenOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 300, Config{}, false)
	f.api.OnRequest(func(_ string, _ map[string]any, n int) *shopifyapi.Fault {
		if n < 6 {
			return &shopifyapi.Fault{Throttle: true}
		}
		return nil
	})
	ids, err := f.ids(t, nil)
	if err != nil || len(ids) != 300 {
		t.Fatalf("%d products, error %v", len(ids), err)
	}
	if cs := f.client.Stats(); cs.Throttled != 6 || cs.Requests != 8 {
		t.Errorf("client stats %+v, want 6 throttled of 8 requests", cs)
	}
}

// TestIncrementalListsOnlyWhatChanged: the updated_at filter and sort read
// only what changed since the cursor.
func TestIncrementalListsOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 600, Config{}, false)
	if _, err := f.ids(t, nil); err != nil {
		t.Fatal(err)
	}
	cursor := epoch.Add(599 * time.Minute)
	for _, i := range []int{7, 70, 300} {
		p := products(600)[i-1]
		p.UpdatedAt = cursor.Add(time.Duration(i) * time.Second)
		f.api.Upsert("products", p)
	}
	before := f.api.Stats()
	ids, err := f.ids(t, map[string]any{"query": fmt.Sprintf("updated_at:>'%s'", cursor.Format(time.RFC3339)), "sortKey": "UPDATED_AT"})
	if err != nil {
		t.Fatal(err)
	}
	want := "gid://shopify/Product/7 gid://shopify/Product/70 gid://shopify/Product/300"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("incremental listing %q, want %q", got, want)
	}
	if after := f.api.Stats(); after.Requests-before.Requests != 1 || after.Nodes["products"]-before.Nodes["products"] != 3 {
		t.Errorf("the second listing took %d requests for %d products, want 1 for 3",
			after.Requests-before.Requests, after.Nodes["products"]-before.Nodes["products"])
	}
}

// TestRefusals: answers that no retry can mend end the listing at once,
// with one line that says what to fix and never the token.
func TestRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		cfg      Config
		bucket   shopifyapi.Bucket
		wantErr  error
		wantMsg  string
		requests int
	}{
		{name: "wrong token", cfg: Config{AccessToken: "shpat_wrong"}, bucket: shopifyapi.Bucket{Max: 1000, RestoreRate: 50}, wantErr: ErrUnauthorized,
			wantMsg: "shopify refused the access token (HTTP 401) read from SHOPIFY_ACCESS_TOKEN", requests: 0},
		{name: "query over the maximum cost", bucket: shopifyapi.Bucket{Max: 100, RestoreRate: 5}, wantErr: ErrMaxCost, wantMsg: "operation Products: Query cost is 502", requests: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 10, tc.cfg, false, tc.bucket)
			_, err := f.ids(t, nil)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) || errors.Is(err, source.ErrTransient) {
				t.Fatalf("error = %v, want %v saying %q, not transient", err, tc.wantErr, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "shpat_") {
				t.Errorf("the error shows the token: %v", err)
			}
			if s := f.api.Stats(); s.Requests != tc.requests || s.Unauthorized > 1 {
				t.Errorf("stand-in stats %+v, want %d answered request(s) and no retry", s, tc.requests)
			}
		})
	}
}

func TestNewRefusesUnknownVersions(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "latest", "2025-06", "25-07", "2025-7"} {
		if _, err := New(Config{BaseURL: "https://x.myshopify.com", APIVersion: v, AccessToken: "t"}); err == nil || !strings.Contains(err.Error(), "is not a release") {
			t.Errorf("New(version %q) = %v, want a refusal", v, err)
		}
	}
	if _, err := New(Config{BaseURL: "https://x.myshopify.com", APIVersion: "2025-07", TokenName: "projects/p/secrets/shopify-token/versions/latest"}); err == nil ||
		!strings.Contains(err.Error(), "from projects/p/secrets/shopify-token/versions/latest is empty") {
		t.Errorf("New without a token = %v", err)
	}
}

// TestEveryPageThatDripsIsRetried: the first request for each page of a
// listing drips its answer a byte every 200 ms; with SOURCE_TIMEOUT 1s the
// client finds each too slow, asks for the page again and reads every
// product once (issue: no source can hang a run).
func TestEveryPageThatDripsIsRetried(t *testing.T) {
	t.Parallel()
	// A dripped answer was charged like any other: a fast-restoring bucket
	// keeps the pacing's waits out of this test's time.
	f := newFixture(t, 600, Config{HTTP: source.Config{Timeout: time.Second, BackoffBase: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond}},
		true, shopifyapi.Bucket{Max: 1000, RestoreRate: 1000})
	var mu sync.Mutex
	dripped := map[string]bool{}
	f.api.OnRequest(func(_ string, vars map[string]any, _ int) *shopifyapi.Fault {
		page, _ := vars["after"].(string)
		mu.Lock()
		defer mu.Unlock()
		if dripped[page] {
			return nil
		}
		dripped[page] = true
		return &shopifyapi.Fault{Drip: 200 * time.Millisecond}
	})
	began := time.Now()
	ids, err := f.ids(t, nil)
	if err != nil || len(ids) != 600 {
		t.Fatalf("%d products, error %v", len(ids), err)
	}
	if len(dripped) != 3 || f.api.Stats().Requests != 6 {
		t.Errorf("%d pages dripped in %d requests, want 3 in 6", len(dripped), f.api.Stats().Requests)
	}
	// Each page: SOURCE_TIMEOUT and one gap, then a backoff under 100 ms.
	if took := time.Since(began); took > 3*(time.Second+300*time.Millisecond)+time.Second {
		t.Errorf("the listing took %s", took)
	}
}
