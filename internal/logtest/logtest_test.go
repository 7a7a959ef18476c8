package logtest

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/shoplake/shoplake/shared/logging"
)

// TestLoggersShareABuffer writes from several loggers at once while the test
// reads (go test -race flags a plain bytes.Buffer here), and reads every
// entry back whole.
func TestLoggersShareABuffer(t *testing.T) {
	t.Parallel()
	first, buf := New()
	var wg sync.WaitGroup
	for g := range 8 {
		logger := first
		if g > 0 {
			logger = logging.New(buf, slog.LevelDebug)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				logger.Info("entry", "logger", g, "i", i)
				_ = buf.String()
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d entries, want 800", len(lines))
	}
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil || e["message"] != "entry" {
			t.Fatalf("entry %q: %v", l, err)
		}
	}
}
