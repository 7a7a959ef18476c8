package progress

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	cases := []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{412000, 2000000, 4 * time.Second, "412000 of 2000000 records (21%), 103000 records/s, about 15s left"},
		{412000, 0, 4 * time.Second, "412000 records, 103000 records/s"},
		{0, 100, time.Second, "0 of 100 records (0%), 0 records/s, time left unknown"},
		{120, 100, time.Second, "120 of 100 records (120%), 120 records/s, about 0s left"},
	}
	for _, tc := range cases {
		if got := Line(tc.done, tc.total, "records", tc.elapsed); got != tc.want {
			t.Errorf("Line(%d, %d, %s) = %q, want %q", tc.done, tc.total, tc.elapsed, got, tc.want)
		}
	}
}

func TestReportEvery(t *testing.T) {
	cases := []struct {
		name        string
		done, total int64
		want        string
	}{
		{"nothing counted, no total", 0, 0, "  … loading: starting, 0s\n"},
		{"nothing counted of a total", 0, 10, "  … loading: 0 of 10 objects (0%), 0 objects/s, time left unknown\n"},
		{"counted, no total", 5, 0, "  … loading: 5 objects, "},
		{"counted of a total", 5, 10, "  … loading: 5 of 10 objects (50%), "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var out strings.Builder
			w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
			stop := Every(w, 5*time.Millisecond, "loading:", "objects",
				func() int64 { return tc.done }, func() int64 { return tc.total })
			// Wait for the first line, however slow the machine, instead of
			// hoping a tick lands inside a fixed sleep.
			written := func() bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(out.String(), "\n") }
			for deadline := time.Now().Add(10 * time.Second); !written() && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			stop()
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(out.String(), "\n") {
				t.Fatal("no progress line in 10 s with a 5 ms interval")
			}
			if first, _, _ := strings.Cut(out.String(), "\n"); !strings.HasPrefix(first+"\n", tc.want) {
				t.Errorf("first line %q, want it to start with %q", first, tc.want)
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
