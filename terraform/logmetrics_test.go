package terraform

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLogMetricsCountMessagesTheFunctionsLog ties each log-based metric of
// monitoring.tf to the Go code: the message it counts must be a log message
// of every function it names, or the alert built on it can never fire.
func TestLogMetricsCountMessagesTheFunctionsLog(t *testing.T) {
	tf, err := os.ReadFile("monitoring.tf")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)log_metrics = \{(.*?)\n  \}\n\}`).FindSubmatch(tf)
	if block == nil {
		t.Fatal("no log_metrics block in monitoring.tf")
	}
	entry := regexp.MustCompile(`(?s)(\w+) = \{.*?functions\s*=\s*\[([^\]]*)\].*?message\s*=\s*"([^"]+)"`)
	entries := entry.FindAllSubmatch(block[1], -1)
	if len(entries) < 3 {
		t.Fatalf("found %d log metrics, want at least 3", len(entries))
	}
	for _, e := range entries {
		name, message := string(e[1]), string(e[3])
		for _, fn := range strings.Split(string(e[2]), ",") {
			fn = strings.Trim(strings.TrimSpace(fn), `"`)
			dir := filepath.Join("..", "functions", strings.ReplaceAll(fn, "_", ""))
			if !logs(t, dir, message) {
				t.Errorf("log metric %s counts %q, which %s (%s) never logs", name, message, fn, dir)
			}
		}
	}
}

// sharedLoggers are the shared functions that log for the functions that
// call them: the call, and the package whose source holds the message.
var sharedLoggers = map[string]string{
	"drift.Log(": filepath.Join("..", "shared", "drift"),
}

// logs reports whether the function whose code is in dir logs message,
// itself or through a shared logger it calls.
func logs(t *testing.T, dir, message string) bool {
	t.Helper()
	if goSourceHas(t, dir, `"`+message+`"`) {
		return true
	}
	for call, pkg := range sharedLoggers {
		if goSourceHas(t, dir, call) && goSourceHas(t, pkg, `"`+message+`"`) {
			return true
		}
	}
	return false
}

// goSourceHas reports whether a non-test Go file in dir contains s.
func goSourceHas(t *testing.T, dir, s string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}
