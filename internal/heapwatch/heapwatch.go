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
