package pollcarts

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/internal/logtest"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/source/connect"
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

// counter is a Publisher that counts events and keeps none.
type counter struct{ n atomic.Int64 }

func (c *counter) Publish(context.Context, model.CartEvent) events.Result {
	c.n.Add(1)
	return result{}
}

func (c *counter) Flush(context.Context) {}

// BenchmarkStoreOrderPoll measures one poll of a Shopify store's orders
// against its stand-in, SHOPLAKE_BENCH_ORDERS orders (default 100,000, three
// lines each) updated since the cursor: read, validated, fingerprinted and
// published (to a counter), the cursor committed to fake GCS. The listing is
// held until it is whole, so memory grows with the orders of one poll: it
// prints orders/s and the peak heap.
func BenchmarkStoreOrderPoll(b *testing.B) {
	n := 100_000
	if v := os.Getenv("SHOPLAKE_BENCH_ORDERS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	api := shopifyapi.NewServer(shopifyapi.Config{Token: "t", Bucket: shopifyapi.Bucket{Max: 1e12, RestoreRate: 1e12}}, nil)
	api.GenerateStore(20, 10, n)
	srv := httptest.NewServer(api)
	b.Cleanup(srv.Close)
	cfg, err := LoadConfig(config.Map(map[string]string{"PROJECT_ID": "proj", "RAW_BUCKET": "raw", "SOURCE_KIND": "shopify",
		"SOURCE_BASE_URL": srv.URL, "SOURCE_API_KEY": "t", "CART_EVENTS_TOPIC": "cart-events", "RUN_TIMEOUT": "30m"}))
	if err != nil {
		b.Fatal(err)
	}
	src, err := connect.New(cfg.Source, "t", "bench")
	if err != nil {
		b.Fatal(err)
	}
	logger, _ := logtest.New()
	for it := 0; it < b.N; it++ {
		gcs := laketest.New(b, "raw", nil)
		lw, err := lake.NewWriter(lake.Config{Bucket: "raw"}, gcs)
		if err != nil {
			b.Fatal(err)
		}
		pub := &counter{}
		f, err := New(cfg, Deps{Source: src.Client, Store: src.Store, State: state.NewStore(gcs.Bucket("raw"), "state/cart-poller.state"),
			Publisher: pub, Lake: lw, Runs: nopRuns{}, Logger: logger,
			Now:     func() time.Time { return shopifyapi.SyntheticAt.Add(time.Minute) },
			Cursors: func(object string) CursorStore { return state.NewCursorStore(gcs.Bucket("raw"), object) }})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var peak atomic.Uint64
		done := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		began := time.Now()
		sum, err := f.Run(context.Background(), Request{})
		took := time.Since(began)
		close(done)
		if err != nil || pub.n.Load() != int64(n) || !sum.StateCommitted {
			b.Fatalf("poll = %+v, %v; published %d, want %d and the cursor committed", sum, err, pub.n.Load(), n)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "orders/s")
		fmt.Fprintf(os.Stderr, "store order poll: %d orders in %v, %.0f orders/s, peak heap %.0f MiB (stand-in included)\n",
			n, took.Round(time.Millisecond), float64(n)/took.Seconds(), float64(peak.Load())/(1<<20))
	}
}
