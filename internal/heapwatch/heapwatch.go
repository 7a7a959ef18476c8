// Package heapwatch samples the live heap while a benchmark runs, for
// benchmarks that report their peak (tests and benchmarks only).
package heapwatch

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Start collects garbage, then samples the live heap every 10 ms until the
// returned stop is called, which returns the highest sample in MiB.
func Start() (stop func() float64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		<-finished
		return float64(peak.Load()) / (1 << 20)
	}
}

// Benchmark is the part of *testing.B that Measure uses.
type Benchmark interface {
	Fatalf(format string, args ...any)
	ReportMetric(n float64, unit string)
}

// Measure runs read, which reads records and says how many, while watching
// the heap, and reports records/s and the peak live heap (peak-heap-MiB) as
// the benchmark's metrics; reading other than want records, or failing,
// fails the benchmark.
func Measure(b Benchmark, want int, read func() (int, error)) {
	stop := Start()
	began := time.Now()
	n, err := read()
	took := time.Since(began)
	peak := stop()
	if err != nil || n != want {
		b.Fatalf("%d records, error %v; want %d", n, err, want)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "records/s")
	b.ReportMetric(peak, "peak-heap-MiB")
}
