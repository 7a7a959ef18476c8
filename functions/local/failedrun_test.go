package main

// Runs that fail (a dbt build) or are refused (a second run on one
// directory), and what the next run does.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/summary"
)

// TestAFailedDBTBuildFailsTheRunAndTheNextRunBuilds: a build that fails
// exits non-zero, and the next run builds again although nothing changed.
func TestAFailedDBTBuildFailsTheRunAndTheNextRunBuilds(t *testing.T) {
	if os.Getenv("SHOPLAKE_DBT") == "" {
		t.Skip("needs dbt (make test provides it)")
	}
	t.Parallel()
	dir := t.TempDir()
	broken := filepath.Join(t.TempDir(), "dbt")
	script := "#!/bin/sh\necho 'Done. PASS=10 WARN=0 ERROR=1 SKIP=0 TOTAL=11'\nexit 1\n"
	if err := os.WriteFile(broken, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runLocal(t, dir, nil, "--port", "0", "--dbt", broken, "--dbt-project", "../../dbt")
	if r.code == 0 || !strings.Contains(r.stderr, "dbt build failed") {
		t.Fatalf("a failed dbt build: exit %d, stderr %q; want a failure naming dbt", r.code, r.stderr)
	}
	// The failed run is in the report as failed, its dbt phase in red, and
	// the marts are failed, not fresh.
	failed := lastRun(t, dir)
	if failed.Status != "failed" || !strings.Contains(failed.Error, "dbt build failed") {
		t.Errorf("the failed run's summary: status %q, error %q", failed.Status, failed.Error)
	}
	html := readReport(t, dir)
	for _, want := range []string{`class="phase dbt failed"`, `<span class="pill failed">failed</span>`, `data-health="failed"`} {
		if !strings.Contains(html, want) {
			t.Errorf("the report after a failed build lacks %s", want)
		}
	}
	if strings.Contains(html, `data-health="fresh"`) {
		t.Error("the report calls a table fresh after a failed build")
	}

	r = runLocal(t, dir, nil, append([]string{"--port", "0"}, dbtArgs()...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "the last dbt build did not succeed") {
		t.Fatalf("the run after a failed build: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := martFigures(t, dir); got != "fact_orders 7, fact_order_items 14, revenue 4691.27, daily sales 4691.27 over 42 units, cart sessions ordered 7, customers 7 orders, 4691.27" {
		t.Errorf("marts %s, want the fixtures' figures", got)
	}
	if html := readReport(t, dir); strings.Count(html, "data-run=") != 2 || strings.Contains(html, `data-health="failed"`) {
		t.Error("the report after the repairing run should list both runs and no failed table")
	}
}

// readReport returns the run report of dir.
func readReport(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(summary.ReportPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTwoRunsOnOneDirectory: the second run stops at once, naming the first.
func TestTwoRunsOnOneDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := runnerCmd(t, "--dir", dir, "--port", "0", "--scale", "20000")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { first.Process.Kill(); first.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "run.lock")); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run never took its lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := runLocal(t, dir, nil, "--port", "0")
	want := fmt.Sprintf("another run (PID %d) is using", first.Process.Pid)
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("second run: exit %d, stderr %q; want exit 1 naming PID %d", r.code, r.stderr, first.Process.Pid)
	}
}
