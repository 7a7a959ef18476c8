// Package progress prints what long work of the local wing has done, every
// few seconds: counts, rate and time left, or at least what is being done
// and for how long; and reads the process's peak memory.
package progress

import (
	"fmt"
	"io"
	"time"
)

// Records prints a line every two seconds until stopped: with a built-in
// stand-in (served counts the records it answered), how many it served for
// this phase of total (0: unknown), their rate and the time left; with an
// external source, which the runner cannot count (served nil), only what is
// being done and for how long.
func Records(out io.Writer, what string, served func() int64, total int64) func() {
	if served == nil {
		start := time.Now()
		return tick(2*time.Second, func() {
			fmt.Fprintf(out, "  … %s, %.0fs\n", what, time.Since(start).Seconds())
		})
	}
	served0 := served()
	return Every(out, 2*time.Second, what+":", "records",
		func() int64 { return served() - served0 }, func() int64 { return total })
}

// Every prints "  … <what> <Line>" every interval until
// stopped, counting done() of total() (0: not known yet) since it was
// called. While nothing is counted and no total is known, the line reads
// "  … <what> starting, <seconds>s".
func Every(out io.Writer, interval time.Duration, what, unit string, done, total func() int64) (stop func()) {
	start := time.Now()
	return tick(interval, func() {
		d, n := done(), total()
		if d == 0 && n <= 0 {
			fmt.Fprintf(out, "  … %s starting, %.0fs\n", what, time.Since(start).Seconds())
			return
		}
		fmt.Fprintf(out, "  … %s %s\n", what, Line(d, n, unit, time.Since(start)))
	})
}

// Line reads "412000 of 2000000 records (21%), 103000 records/s,
// about 16s left", or without a total "412000 records, 103000 records/s".
func Line(done, total int64, unit string, elapsed time.Duration) string {
	rate := float64(done) / max(elapsed.Seconds(), 1e-3)
	if total <= 0 {
		return fmt.Sprintf("%d %s, %.0f %s/s", done, unit, rate, unit)
	}
	left := "time left unknown"
	if rate > 0 {
		left = "about " + (time.Duration(float64(max(total-done, 0))/rate) * time.Second).Round(time.Second).String() + " left"
	}
	return fmt.Sprintf("%d of %d %s (%.0f%%), %.0f %s/s, %s", done, total, unit, 100*float64(done)/float64(total), rate, unit, left)
}

// tick calls fn every interval, in its own goroutine, until the returned
// stop is called.
func tick(interval time.Duration, fn func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(done) }
}
