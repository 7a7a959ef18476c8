package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// step is one scripted response of the test server.
type step struct {
	status     int
	retryAfter string
	body       string
}

func scriptedServer(t *testing.T, steps ...step) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1)) - 1
		s := steps[min(n, len(steps)-1)]
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newTestClient(t *testing.T, baseURL string, cfg Config) (*Client, *[]time.Duration) {
	t.Helper()
	cfg.BaseURL = baseURL
	cfg.RequestsPerSecond = 1000
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return ctx.Err()
	}
	return c, &slept
}

// collect fetches /products as a caller does: inside Retry, each attempt
// starting from nothing.
func collect(c *Client) ([]string, error) {
	var got []string
	err := c.Retry(context.Background(), "products", func(ctx context.Context) error {
		got = got[:0]
		return c.Each(ctx, "/products", func(raw json.RawMessage, big *OversizedError) error {
			if big != nil {
				got = append(got, big.Error())
				return nil
			}
			got = append(got, string(raw))
			return nil
		})
	})
	return got, err
}

func TestEachRetries(t *testing.T) {
	t.Parallel()
	ok := step{status: 200, body: `[{"id":1}, {"id":2}]`}
	cases := []struct {
		name      string
		steps     []step
		cfg       Config
		wantCalls int32
		wantErr   string
		minSleep  time.Duration // the first backoff must be at least this
	}{
		{name: "ok first time", steps: []step{ok}, wantCalls: 1},
		{name: "500 then success", steps: []step{{status: 500}, {status: 503}, ok}, wantCalls: 3},
		{name: "429 honours Retry-After", steps: []step{{status: 429, retryAfter: "7"}, ok}, wantCalls: 2, minSleep: 7 * time.Second},
		{name: "404 is permanent", steps: []step{{status: 404}}, wantCalls: 1, wantErr: "HTTP 404"},
		{name: "401 is permanent", steps: []step{{status: 401}}, wantCalls: 1, wantErr: "HTTP 401"},
		{name: "HTML is permanent", steps: []step{{status: 200, body: "<html>down</html>"}}, wantCalls: 1, wantErr: "not a JSON array"},
		{name: "body cut off, then whole", steps: []step{{status: 200, body: `[{"id":1},{"id":`}, ok}, wantCalls: 2},
		{name: "408 then success", steps: []step{{status: 408}, ok}, wantCalls: 2},
		{name: "500 forever gives up", steps: []step{{status: 500}}, cfg: Config{MaxRetries: 3}, wantCalls: 4, wantErr: "products: gave up after 4 attempts in"},
		{name: "retries disabled", steps: []step{{status: 502}}, cfg: Config{MaxRetries: -1}, wantCalls: 1, wantErr: "HTTP 502"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, calls := scriptedServer(t, tc.steps...)
			c, slept := newTestClient(t, srv.URL, tc.cfg)
			got, err := collect(c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{`{"id":1}`, `{"id":2}`}, got); diff != "" {
					t.Errorf("elements (-want +got):\n%s", diff)
				}
			}
			if calls.Load() != tc.wantCalls {
				t.Errorf("server saw %d calls, want %d", calls.Load(), tc.wantCalls)
			}
			if tc.minSleep > 0 && (len(*slept) == 0 || (*slept)[0] < tc.minSleep) {
				t.Errorf("slept %v, want first wait >= %v", *slept, tc.minSleep)
			}
		})
	}
}

func TestEachStreamErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		cfg     Config
		wantErr error
		wantMsg string
	}{
		{name: "not an array", body: `{"id":1}`, wantErr: ErrNotArray},
		{name: "truncated", body: `[{"id":1},{"id":`, wantMsg: "response body ended early"},
		{name: "too large", body: `[{"id":1},{"id":2},{"id":3}]`, cfg: Config{MaxResponseBytes: 12}, wantErr: ErrTooLarge},
		{name: "garbage", body: `[{"id":1} x]`, wantMsg: "expected ',' or ']' after an element"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := scriptedServer(t, step{status: 200, body: tc.body})
			c, _ := newTestClient(t, srv.URL, tc.cfg)
			_, err := collect(c)
			if err == nil {
				t.Fatal("Each succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error = %v, want containing %q", err, tc.wantMsg)
			}
		})
	}
}

func TestEachRetriesConnectionErrors(t *testing.T) {
	t.Parallel()
	srv, _ := scriptedServer(t, step{status: 200, body: `[]`})
	url := srv.URL
	srv.Close() // nothing listens any more
	c, slept := newTestClient(t, url, Config{MaxRetries: 2})
	_, err := collect(c)
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("error = %v, want a failure after 3 attempts", err)
	}
	if len(*slept) != 2 {
		t.Errorf("backed off %d times, want 2", len(*slept))
	}
}

// TestRetryStartsOverOnBrokenStreams covers failures after the headers: a
// connection reset and a body that stops arriving. Each is retried from the
// first element, and only the whole list is returned.
func TestRetryStartsOverOnBrokenStreams(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		breakIt func(w http.ResponseWriter)
	}{
		{"connection reset", func(w http.ResponseWriter) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n[{\"id\":1},")
			_ = buf.Flush()
			_ = conn.(*net.TCPConn).SetLinger(0) // close with RST
			conn.Close()
		}},
		{"body stalls", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte(`[{"id":1},`))
			_ = http.NewResponseController(w).Flush()
			time.Sleep(time.Second)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					tc.breakIt(w)
					return
				}
				_, _ = w.Write([]byte(`[{"id":1}, {"id":2}]`))
			}))
			t.Cleanup(srv.Close)
			c, slept := newTestClient(t, srv.URL, Config{Timeout: 200 * time.Millisecond})
			got, err := collect(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{`{"id":1}`, `{"id":2}`}, got); diff != "" {
				t.Errorf("elements (-want +got):\n%s", diff)
			}
			if calls.Load() != 2 || len(*slept) != 1 {
				t.Errorf("%d calls and %d waits, want 2 and 1", calls.Load(), len(*slept))
			}
		})
	}
}

func TestRetryStopsAtTheBudget(t *testing.T) {
	t.Parallel()
	srv, calls := scriptedServer(t, step{status: 503, retryAfter: "20"})
	c, _ := newTestClient(t, srv.URL, Config{MaxRetries: 10, RetryBudget: time.Minute, BackoffMax: time.Minute})
	clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return clock }
	c.sleep = func(_ context.Context, d time.Duration) error { clock = clock.Add(d); return nil }
	_, err := collect(c)
	// Waits of 20s: attempts at 0, 20 and 40s; the next would start at 60s.
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts in 40s") || !errors.Is(err, ErrTransient) {
		t.Fatalf("error = %v, want a transient failure after 3 attempts in 40s", err)
	}
	if calls.Load() != 3 {
		t.Errorf("server saw %d calls, want 3", calls.Load())
	}
}

func TestEachReportsOversizedRecordsAndReadsOn(t *testing.T) {
	t.Parallel()
	big := `{"id":2,"title":"` + strings.Repeat("x", 4096) + `"}`
	srv, _ := scriptedServer(t, step{status: 200, body: `[{"id":1},` + big + `,{"id":3}]`})
	c, _ := newTestClient(t, srv.URL, Config{MaxRecordBytes: 1024})
	got, err := collect(c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"id":1}`, fmt.Sprintf("record 1 is %d bytes, over the 1024-byte limit (SOURCE_MAX_RECORD_BYTES)", len(big)), `{"id":3}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("elements (-want +got):\n%s", diff)
	}
}

func TestEachSendsAPIKeyAndStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	var gotKey, gotURL atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey.Store(r.Header.Get("X-Shop-Key"))
		gotURL.Store(r.URL.String())
		_, _ = w.Write([]byte(`[1,2,3]`))
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, srv.URL, Config{APIKey: "k-123", APIKeyHeader: "X-Shop-Key"})
	stop := errors.New("stop")
	n := 0
	err := c.Each(context.Background(), "/carts?startdate=2020-01-01&enddate=2020-02-01", func(json.RawMessage, *OversizedError) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("Each = %v after %d elements, want the callback's error after 2", err, n)
	}
	if gotURL.Load() != "/carts?startdate=2020-01-01&enddate=2020-02-01" {
		t.Errorf("requested %v", gotURL.Load())
	}
	if gotKey.Load() != "k-123" {
		t.Errorf("API key header = %q", gotKey.Load())
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, "http://127.0.0.1:1", Config{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})
	for attempt := 0; attempt < 30; attempt++ {
		d := c.backoff(attempt)
		ceiling := min(100*time.Millisecond<<min(attempt, 20), time.Second)
		if d < ceiling/2 || d > ceiling {
			t.Errorf("backoff(%d) = %v, want within [%v, %v]", attempt, d, ceiling/2, ceiling)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Mon, 23 Nov 2026 12:00:10 GMT": 10 * time.Second,
		"Mon, 23 Nov 2026 11:00:00 GMT": 0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "fakestoreapi.com", "ftp://x", "http://"} {
		if _, err := New(Config{BaseURL: u}, nil); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

func TestCheckShrink(t *testing.T) {
	t.Parallel()
	cases := []struct {
		before, sent, got int64
		wantErr           string
	}{
		{before: -1, sent: 20, got: 20},
		{before: -1, sent: 0, got: 0, wantErr: "products came back empty"},
		{before: 20, sent: 0, got: 0, wantErr: "came back empty where the last accepted listing had 20"},
		{before: 20, sent: 20, got: 0, wantErr: "products kept no record where the last accepted listing had 20: the 20 the source sent were all rejected as invalid"},
		{before: 20, sent: 10, got: 10},
		{before: 20, sent: 20, got: 10},
		{before: 20, sent: 9, got: 9, wantErr: "fell from 20 to 9 records (-55%), more than SOURCE_MAX_SHRINK allows (50%)"},
		{before: 20, sent: 20, got: 2, wantErr: "fell from 20 to 2 records (-90%), more than SOURCE_MAX_SHRINK allows (50%); the source sent 20, and 18 were rejected as invalid"},
		{before: 20, sent: 40, got: 40},
	}
	for _, tc := range cases {
		err := CheckShrink("products", tc.before, tc.sent, tc.got, DefaultMaxShrink)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("CheckShrink(%d, %d, %d) = %v, want nil", tc.before, tc.sent, tc.got, err)
		case tc.wantErr != "" && (err == nil || !errors.Is(err, ErrCollapsed) || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("CheckShrink(%d, %d, %d) = %v, want ErrCollapsed containing %q", tc.before, tc.sent, tc.got, err, tc.wantErr)
		}
	}
}
