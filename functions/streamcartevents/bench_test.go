package streamcartevents

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// remoteWarehouse models a streaming-insert API: every request takes
// latency, and at most parallel requests are served at once (per-table
// limits, connection pools), whatever the number of rows.
type remoteWarehouse struct {
	latency time.Duration
	slots   chan struct{}
	rows    atomic.Int64
}

func (w *remoteWarehouse) InsertCartEvents(ctx context.Context, rows []warehouse.CartEventRow) ([]error, error) {
	w.slots <- struct{}{}
	defer func() { <-w.slots }()
	time.Sleep(w.latency)
	w.rows.Add(int64(len(rows)))
	return make([]error, len(rows)), nil
}

func (w *remoteWarehouse) InsertRejectedEvents(context.Context, []warehouse.RejectedEvent) error {
	return nil
}

// measure inserts total rows from 100 concurrent deliveries with insert and
// returns rows per second.
func measure(b *testing.B, total int, insert func(ctx context.Context, row warehouse.CartEventRow) error) float64 {
	b.Helper()
	const deliveries = 100
	at := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				row := warehouse.CartEventRow{CartEvent: model.NewDeleteEvent(i, 1, at, at), MessageID: fmt.Sprint(i), IngestedAt: at}
				if err := insert(context.Background(), row); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(total) / time.Since(start).Seconds()
}

// BenchmarkGroupedInsert compares, in one run, the grouped insert (the
// batcher every invocation of an instance shares) with one insert per row,
// at 100 concurrent deliveries, against DuckDB (the local warehouse) and a
// modelled remote warehouse (20 ms per request, 10 requests at once).
func BenchmarkGroupedInsert(b *testing.B) {
	dir := b.TempDir()
	targets := []struct {
		name  string
		total int
		open  func(i int) Warehouse
	}{
		{"duckdb", 3000, func(i int) Warehouse {
			w, err := duckdb.Open(context.Background(), duckdb.Config{Path: filepath.Join(dir, fmt.Sprint(i, ".duckdb")), Dataset: "bq_raw"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { w.Close() })
			return w
		}},
		{"remote-20ms-x10", 3000, func(int) Warehouse {
			return &remoteWarehouse{latency: 20 * time.Millisecond, slots: make(chan struct{}, 10)}
		}},
	}
	for ti, target := range targets {
		b.Run(target.name, func(b *testing.B) {
			var single, grouped float64
			for it := 0; it < b.N; it++ {
				w := target.open(ti*10 + 2*it)
				single = measure(b, target.total, func(ctx context.Context, row warehouse.CartEventRow) error {
					_, err := w.InsertCartEvents(ctx, []warehouse.CartEventRow{row})
					return err
				})
				w = target.open(ti*10 + 2*it + 1)
				bt := newBatcher(w.InsertCartEvents, 500, 5*time.Millisecond, 30*time.Second)
				grouped = measure(b, target.total, bt.Insert)
			}
			b.ReportMetric(single, "single-rows/s")
			b.ReportMetric(grouped, "grouped-rows/s")
			b.ReportMetric(grouped/single, "speedup")
			fmt.Fprintf(os.Stderr, "insert [%s], 100 concurrent deliveries: one row per insert %.0f rows/s, grouped %.0f rows/s: %.1fx\n",
				target.name, single, grouped, grouped/single)
		})
	}
}
