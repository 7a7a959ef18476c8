package lake

import (
	"strings"
	"testing"
	"time"
)

func TestCartEventsArchiveName(t *testing.T) {
	tests := []struct {
		at   time.Time
		id   string
		want string
	}{
		{time.Date(2026, 11, 25, 5, 7, 9, 0, time.UTC), "abc", "raw/cart_events/dt=2026-11-25/05_07_09Z_abc.jsonl"},
		// The name is in UTC, whatever the zone of t.
		{time.Date(2026, 11, 25, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "x", "raw/cart_events/dt=2026-11-24/23_30_00Z_x.jsonl"},
	}
	for _, tt := range tests {
		got := CartEventsArchiveName(tt.at, tt.id)
		if got != tt.want {
			t.Errorf("CartEventsArchiveName(%v, %q) = %q, want %q", tt.at, tt.id, got, tt.want)
		}
		if !strings.HasPrefix(got, CartEventsArchivePrefix) {
			t.Errorf("%q is outside %s", got, CartEventsArchivePrefix)
		}
		if _, _, err := ParseRawObject(got); err == nil {
			t.Errorf("%q parses as a raw snapshot; LoadRawObject would load it", got)
		}
	}
}
