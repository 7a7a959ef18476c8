package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// drip answers 200 at once, then sends body chunk bytes at a time, every
// gap, until it is sent or the client goes away.
func drip(body string, chunk int, gap time.Duration) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		for len(body) > 0 {
			n := min(chunk, len(body))
			if _, err := w.Write([]byte(body[:n])); err != nil {
				return
			}
			_ = rc.Flush()
			body = body[n:]
			select {
			case <-time.After(gap):
			case <-r.Context().Done():
				return
			}
		}
	}
}

// dripServer serves drip(body, chunk, gap) and counts its requests.
func dripServer(t *testing.T, body string, chunk int, gap time.Duration) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		drip(body, chunk, gap)(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// endless is a JSON array that goes on for n elements.
func endless(n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d}`, i)
	}
	b.WriteString("]")
	return b.String()
}

// TestNoRequestOutlastsItsBounds: whatever the source does after it was
// asked, the request ends within the bound its settings give, with an error
// that names the request, what arrived in how long and the setting to change.
func TestNoRequestOutlastsItsBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		cfg     Config
		// bound is the longest the fetch may take.
		bound   time.Duration
		wantMsg []string
	}{
		{
			name:    "no headers",
			handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			cfg:     Config{Timeout: 300 * time.Millisecond},
			bound:   2 * time.Second,
			wantMsg: []string{"no response within SOURCE_TIMEOUT (300ms)"},
		},
		{
			name:    "one byte every 100ms",
			handler: drip(`[{"id":1},{"id":2}]`, 1, 100*time.Millisecond),
			cfg:     Config{Timeout: 300 * time.Millisecond},
			bound:   2 * time.Second,
			wantMsg: []string{"GET http://", "/products: source too slow: the body arrived at", "below SOURCE_MIN_BYTES_PER_SECOND (1024): lower it", "bytes of the body in"},
		},
		{
			name:    "headers, then silence",
			handler: drip(`[{"id":1},{"id":2}]`, 5, time.Hour),
			cfg:     Config{Timeout: 300 * time.Millisecond},
			bound:   2 * time.Second,
			wantMsg: []string{"no data for 300ms (SOURCE_TIMEOUT) after 5 bytes of the body in"},
		},
		{
			name:    "steady but endless",
			handler: drip(endless(1_000_000), 4096, 10*time.Millisecond),
			cfg:     Config{Timeout: 300 * time.Millisecond, RequestTimeout: 700 * time.Millisecond},
			bound:   3 * time.Second,
			wantMsg: []string{"not complete within SOURCE_REQUEST_TIMEOUT (700ms)", "bytes of the body in", "raise SOURCE_REQUEST_TIMEOUT"},
		},
		{
			name:    "steady but past the retry budget",
			handler: drip(endless(1_000_000), 4096, 10*time.Millisecond),
			cfg:     Config{Timeout: 300 * time.Millisecond, RetryBudget: 700 * time.Millisecond},
			bound:   3 * time.Second,
			wantMsg: []string{"left of SOURCE_RETRY_BUDGET (700ms)", "raise SOURCE_RETRY_BUDGET"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(tc.handler))
			t.Cleanup(srv.Close)
			tc.cfg.MaxRetries = -1
			c, _ := newTestClient(t, srv.URL, tc.cfg)
			began := time.Now()
			_, err := collect(c)
			took := time.Since(began)
			if err == nil {
				t.Fatal("the fetch succeeded")
			}
			if !errors.Is(err, ErrStalled) || !errors.Is(err, ErrTransient) {
				t.Errorf("error %v does not wrap ErrStalled and ErrTransient", err)
			}
			for _, want := range tc.wantMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if took > tc.bound {
				t.Errorf("the fetch took %s, past its bound of %s", took, tc.bound)
			}
		})
	}
}

// TestRetryBudgetEndsTheWholeFetch: attempts that each stall end, with
// their waits, within the retry budget, however many retries are allowed.
func TestRetryBudgetEndsTheWholeFetch(t *testing.T) {
	t.Parallel()
	srv, calls := dripServer(t, endless(1000), 1, 50*time.Millisecond)
	c, err := New(Config{BaseURL: srv.URL, Timeout: 200 * time.Millisecond, MaxRetries: 20, RetryBudget: 1500 * time.Millisecond,
		BackoffBase: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond, RequestsPerSecond: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = collect(c)
	took := time.Since(began)
	if err == nil || !strings.Contains(err.Error(), "gave up after") || !errors.Is(err, ErrStalled) {
		t.Fatalf("error = %v, want a stalled fetch given up", err)
	}
	if took > 2500*time.Millisecond {
		t.Errorf("the fetch took %s, past its budget of 1.5s by more than a second", took)
	}
	if calls.Load() < 2 {
		t.Errorf("%d attempts, want the stalls retried", calls.Load())
	}
}

// TestSlowCallerIsNotASlowSource: time the caller spends on each element
// does not count against the source's pace.
func TestSlowCallerIsNotASlowSource(t *testing.T) {
	t.Parallel()
	const elements = 50000 // far more than one read holds
	srv, _ := scriptedServer(t, step{status: 200, body: endless(elements)})
	c, _ := newTestClient(t, srv.URL, Config{Timeout: 100 * time.Millisecond, MaxRetries: -1})
	n := 0
	err := c.Retry(context.Background(), "products", func(ctx context.Context) error {
		n = 0
		return c.Each(ctx, "/products", func(json.RawMessage, *OversizedError) error {
			if n++; n <= 3 {
				time.Sleep(150 * time.Millisecond) // each longer than the timeout
			}
			return nil
		})
	})
	if err != nil || n != elements {
		t.Fatalf("read %d elements, error %v; want all %d", n, err, elements)
	}
}

// TestCallerCancellationIsNotRetried: the caller's own deadline ends the
// fetch as the caller's error, not as a stalled source.
func TestCallerCancellationIsNotRetried(t *testing.T) {
	t.Parallel()
	srv, calls := dripServer(t, endless(100000), 4096, 10*time.Millisecond)
	c, _ := newTestClient(t, srv.URL, Config{Timeout: time.Second})
	stop := errors.New("run timeout")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 300*time.Millisecond, stop)
	defer cancel()
	err := c.Retry(ctx, "products", func(ctx context.Context) error {
		return c.Each(ctx, "/products", func(json.RawMessage, *OversizedError) error { return nil })
	})
	if !errors.Is(err, stop) || errors.Is(err, ErrTransient) {
		t.Errorf("error = %v, want the caller's cause, not transient", err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d requests, want 1", calls.Load())
	}
}
