package emulation

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDeliver(t *testing.T) {
	t.Parallel()
	failed := errors.New("HTTP 500")
	cases := []struct {
		name         string
		failures     int // attempts that fail before one succeeds
		wantAttempts int
		wantErr      error
	}{
		{name: "delivered at once", wantAttempts: 1},
		{name: "delivered on the third", failures: 2, wantAttempts: 3},
		{name: "every attempt failed", failures: 100, wantAttempts: 5, wantErr: ErrExhausted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen []int
			n, err := Policy{Attempts: 5, Backoff: time.Millisecond}.Deliver(context.Background(), func(_ context.Context, attempt int) error {
				seen = append(seen, attempt)
				if attempt <= tc.failures {
					return failed
				}
				return nil
			})
			if n != tc.wantAttempts || len(seen) != n || seen[n-1] != n || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Deliver = %d attempts (%v), %v; want %d, %v", n, seen, err, tc.wantAttempts, tc.wantErr)
			}
			if tc.wantErr != nil && !errors.Is(err, failed) {
				t.Errorf("%v does not carry the last attempt's error", err)
			}
		})
	}
}

// TestDeliverStopsWhenCancelledDuringBackoff: a cancelled delivery does not
// wait out its backoff, and says why it stopped.
func TestDeliverStopsWhenCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	n, err := Policy{Attempts: 5, Backoff: time.Minute}.Deliver(ctx, func(context.Context, int) error { return errors.New("HTTP 503") })
	if n != 1 || !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > 5*time.Second {
		t.Errorf("Deliver = %d, %v after %s; want 1 attempt and the context's error, without waiting a minute", n, err, time.Since(began))
	}
}

// TestDeliverStopsWhenCancelledDuringAnAttempt: an attempt that ends
// because ctx ended is not retried, whatever it returned.
func TestDeliverStopsWhenCancelledDuringAnAttempt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := Policy{Attempts: 5, Backoff: time.Millisecond}.Deliver(ctx, func(context.Context, int) error {
		cancel()
		return errors.New("connection reset")
	})
	if n != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("Deliver = %d, %v; want 1 attempt and context.Canceled", n, err)
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	p := Policy{Backoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
	var got []time.Duration
	for attempt := 1; attempt <= 7; attempt++ {
		got = append(got, p.Delay(attempt))
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want doubling from 100ms, at most 2s", got)
		}
	}
	if d := (Policy{Backoff: time.Minute}).Delay(100); d <= 0 {
		t.Errorf("an unbounded policy's 100th delay is %v", d)
	}
}
