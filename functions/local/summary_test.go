package main

import (
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
