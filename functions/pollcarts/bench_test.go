package pollcarts

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/state"
)

// BenchmarkFingerprintDiff measures PollCarts' per-poll state work at
// SHOPLAKE_BENCH_CARTS carts (default 1,000,000), 1% of them changed since
// the committed state: decoding the state, fingerprinting and diffing every
// cart, and encoding the next state. It reports the state's size and the
// throughput of the fingerprint+diff step.
func BenchmarkFingerprintDiff(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("SHOPLAKE_BENCH_CARTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	carts := make([]model.Cart, n)
	for i := range carts {
		id := int64(i + 1)
		lines := make([]model.CartLine, 1+i%3)
		for l := range lines {
			lines[l] = model.CartLine{ProductID: 1 + (id*31+int64(l)*17)%20, Quantity: 1 + (id+int64(l))%5}
		}
		carts[i] = model.Cart{ID: id, UserID: 1 + id%10, Date: fmt.Sprintf("2020-0%d-1%dT00:00:00.000Z", 1+i%9, i%10), Products: lines}
	}
	// The committed state is the previous poll, where every 100th cart differed.
	prev := newDiffer(nil)
	for i := range carts {
		c := carts[i]
		if i%100 == 0 {
			c.Products = append([]model.CartLine{{ProductID: 99, Quantity: 1}}, c.Products...)
		}
		prev.observe(&c)
	}
	encoded := state.Encode(state.SortUnique(prev.next))

	var decodeT, diffT, encodeT time.Duration
	var changed int
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		t0 := time.Now()
		entries, err := state.Decode(encoded)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		d := newDiffer(entries)
		changed = 0
		for i := range carts {
			if c, _ := d.observe(&carts[i]); c == changeUpdated {
				changed++
			}
		}
		_ = d.unseen()
		next := state.SortUnique(d.next)
		t2 := time.Now()
		out := state.Encode(next)
		t3 := time.Now()
		decodeT += t1.Sub(t0)
		diffT += t2.Sub(t1)
		encodeT += t3.Sub(t2)
		if len(out) != len(encoded) {
			b.Fatalf("state size changed: %d -> %d", len(encoded), len(out))
		}
	}
	b.StopTimer()
	if changed != (n+99)/100 {
		b.Fatalf("found %d changed carts, want %d", changed, (n+99)/100)
	}
	per := func(d time.Duration) time.Duration { return d / time.Duration(b.N) }
	rate := float64(n) / per(diffT).Seconds()
	b.ReportMetric(rate, "carts/s")
	b.ReportMetric(float64(len(encoded))/float64(n), "state-bytes/cart")
	b.ReportMetric(float64(len(encoded))/(1<<20), "state-MiB")
	fmt.Fprintf(os.Stderr, "poll state: %d carts, %d changed; state %.1f MiB (%.1f bytes/cart)\n",
		n, changed, float64(len(encoded))/(1<<20), float64(len(encoded))/float64(n))
	fmt.Fprintf(os.Stderr, "poll state: load (decode) %v, fingerprint+diff %v (%.0f carts/s), encode %v; total %v\n",
		per(decodeT).Round(time.Millisecond), per(diffT).Round(time.Millisecond), rate, per(encodeT).Round(time.Millisecond),
		(per(decodeT) + per(diffT) + per(encodeT)).Round(time.Millisecond))
}
