package streamcartevents

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// nullWarehouse stores nothing: it measures the function's own work.
type nullWarehouse struct{}

func (nullWarehouse) InsertCartEvents(_ context.Context, rows []warehouse.CartEventRow) ([]error, error) {
	return make([]error, len(rows)), nil
}

func (nullWarehouse) InsertRejectedEvents(context.Context, []warehouse.RejectedEvent) error {
	return nil
}

// BenchmarkHandleBatch handles push bodies of full batch messages (1,000
// events each) against a warehouse that stores nothing (the function's own
// decoding and validation) and against DuckDB (the local warehouse), and
// prints events per second.
func BenchmarkHandleBatch(b *testing.B) {
	evs := make([]model.CartEvent, events.MaxBatchEvents)
	for i := range evs {
		evs[i] = cartEvent(int64(i + 1))
	}
	body := batchEnvelope(b, "m1", evs...)
	targets := []struct {
		name string
		open func() Warehouse
	}{
		{"null", func() Warehouse { return nullWarehouse{} }},
		{"duckdb", func() Warehouse {
			w, err := duckdb.Open(context.Background(), duckdb.Config{Path: filepath.Join(b.TempDir(), "w.duckdb"), Dataset: "bq_raw"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { w.Close() })
			return w
		}},
	}
	for _, target := range targets {
		b.Run(target.name, func(b *testing.B) {
			fn, err := New(Config{}, Deps{Warehouse: target.open(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			start := time.Now()
			for b.Loop() {
				if err := fn.Handle(context.Background(), body); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(b.N*len(evs)) / time.Since(start).Seconds()
			b.ReportMetric(rate, "events/s")
			fmt.Fprintf(os.Stderr, "StreamCartEvents [%s]: %d batch messages of %d events, %.0f events/s\n", target.name, b.N, len(evs), rate)
		})
	}
}
