package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDBTArtefactsLandInTheRunDirectory: dbt resolves relative paths from
// its project directory, so a relative run directory (make run's .local)
// must reach it absolute, or the build's results land under dbt/.
func TestDBTArtefactsLandInTheRunDirectory(t *testing.T) {
	tmp := t.TempDir()
	fake := filepath.Join(tmp, "dbt")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/args\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(tmp)
	if err := os.MkdirAll(filepath.Join("run", "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := dbtCommand(context.Background(), fake, "project", "w.duckdb", "run", nil, "build"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(tmp, "args"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--target-path " + filepath.Join(tmp, "run", "dbt", "target"), "--log-path " + filepath.Join(tmp, "run", "dbt", "logs")} {
		if !strings.Contains(string(b), want) {
			t.Errorf("dbt ran with %q, want %q", b, want)
		}
	}
}
