package main

import (
	"errors"
	"os"
	"path/filepath"
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
		if got := progressLine(tc.done, tc.total, "records", tc.elapsed); got != tc.want {
			t.Errorf("progressLine(%d, %d, %s) = %q, want %q", tc.done, tc.total, tc.elapsed, got, tc.want)
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
			stop := reportEvery(w, 5*time.Millisecond, "loading:", "objects",
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

func TestRejectedLineSaysWhyAndWhere(t *testing.T) {
	t.Parallel()
	s := &Summary{Dir: "/run"}
	where := ": see gs://" + Bucket + "/rejects/products/ (/run/gcs/" + Bucket + "/rejects/products)"
	cases := []struct {
		name    string
		n       int64
		reasons map[string]int64
		want    string
	}{
		{"no reasons recorded", 2, nil, "rejected  2 products record(s)" + where},
		{"one kind", 1, map[string]int64{"products: invalid record: id listed again in the same listing; the first listing is kept": 1},
			"rejected  1 products record(s) (1 id listed again in the same listing; the first listing is kept)" + where},
		{"most frequent first, three at most", 10, map[string]int64{
			"invalid record: title fails notblank": 2, "invalid record: price fails gte=0": 5,
			"invalid record: id fails gt=0": 2, "record # is # bytes, over the # limit": 1,
		}, "rejected  10 products record(s) (5 price fails gte=0; 2 id fails gt=0; 2 title fails notblank; 1 more kind(s) of reason)" + where},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := s.rejectedLine("products", tc.n, tc.reasons); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestFailedReportsAFailureToWriteTheSummary: a run that failed and could
// not even keep its summary says both.
func TestFailedReportsAFailureToWriteTheSummary(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing", "dir")
	s := &Summary{Dir: dir}
	_, err := s.failed(time.Now(), errors.New("dbt build failed"))
	if err == nil || !strings.Contains(err.Error(), "dbt build failed") || !strings.Contains(err.Error(), "write run summary") {
		t.Errorf("error %v, want the run's failure and the summary's", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "last-run.json")); statErr == nil {
		t.Error("a summary was written where none could be")
	}
}
