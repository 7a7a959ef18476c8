package dbtrun

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/go-cmp/cmp"
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

// TestProjectMarkFollowsTheProjectFiles: the project fingerprint changes with
// any file a build reads, and not with dbt's own output.
func TestProjectMarkFollowsTheProjectFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("dbt_project.yml", "name: p\n")
	write("models/a.sql", "select 1")
	mark := func() string {
		t.Helper()
		m, err := ProjectMark(dir)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	prev := mark()
	for _, tc := range []struct {
		name, file, body string
		changes          bool
	}{
		{"dbt's output", "target/run_results.json", "{}", false},
		{"dbt's logs", "logs/dbt.log", "x", false},
		{"a model", "models/a.sql", "select 2", true},
		{"a new macro", "macros/m.sql", "{% macro m() %}{% endmacro %}", true},
		{"a test", "tests/t.sql", "select 1 where false", true},
		{"a snapshot", "snapshots/s.sql", "x", true},
		{"the project file", "dbt_project.yml", "name: q\n", true},
		{"a file renamed", "models/b.sql", "select 2", true},
	} {
		if tc.name == "a file renamed" {
			if err := os.Remove(filepath.Join(dir, "models/a.sql")); err != nil {
				t.Fatal(err)
			}
		}
		write(tc.file, tc.body)
		got := mark()
		if (got != prev) != tc.changes {
			t.Errorf("%s: mark changed = %v, want %v", tc.name, got != prev, tc.changes)
		}
		prev = got
	}
	if _, err := ProjectMark(t.TempDir()); err == nil {
		t.Error("a directory without dbt_project.yml has a mark")
	}
}

// TestParseFreshness reads what dbt-duckdb's `dbt source freshness` wrote
// for a warehouse whose cart_events table has no row: a max_loaded_at of
// 0001-01-01 and an error, which is an empty table, not a stale one.
func TestParseFreshness(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "sources-empty-cart-events.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseFreshness(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []SourceFreshness{
		{Source: "bq_raw.cart_events", Status: FreshnessEmpty, WarnAfter: 2 * 3600, ErrorAfter: 24 * 3600},
		{Source: "bq_raw.products", Status: "pass", AgeSeconds: 19.726201, WarnAfter: 26 * 3600, ErrorAfter: 50 * 3600},
	}
	if diff := cmp.Diff(want, got[:2]); diff != "" {
		t.Errorf("freshness (-want +got):\n%s", diff)
	}
	if _, err := parseFreshness([]byte("{")); err == nil {
		t.Error("a cut-off sources.json parsed")
	}
}

// TestMartsExistReadsTheListOfMarts: the check asks for the marts of Marts,
// all of them, whatever that list holds.
func TestMartsExistReadsTheListOfMarts(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("create schema bq_analytics"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, m := range Marts {
		if MartsExist(ctx, db) {
			t.Fatalf("all marts exist with %d of %d built", i, len(Marts))
		}
		if _, err := db.Exec("create table bq_analytics." + m + " (x int)"); err != nil {
			t.Fatal(err)
		}
	}
	if !MartsExist(ctx, db) {
		t.Error("every mart built, but martsExist says no")
	}
}

// TestDecide: when a run builds the marts, and whether from scratch.
func TestDecide(t *testing.T) {
	t.Parallel()
	ok := State{Status: "succeeded", Raw: "m1", Project: "p1"}
	cases := []struct {
		name       string
		last       State
		project    string
		marks      string
		martsExist bool
		want       Decision
	}{
		{"up to date", ok, "p1", "m1", true, Decision{BuiltBy: "p1"}},
		{"raw tables changed", ok, "p1", "m2", true, Decision{Reason: "the raw tables changed since the last build", BuiltBy: "p1"}},
		{"a mart dropped", ok, "p1", "m1", false, Decision{Reason: "a mart is missing", BuiltBy: "p1"}},
		{"project changed", ok, "p2", "m1", true, Decision{Reason: "the dbt project changed since the last build: rebuilding from scratch (--full-refresh)", FullRefresh: true, BuiltBy: "p1"}},
		{"a changed project's build failed", State{Status: "failed", Raw: "m1", Project: "p1"}, "p2", "m1", true,
			Decision{Reason: "the dbt project changed since the last build: rebuilding from scratch (--full-refresh)", FullRefresh: true, BuiltBy: "p1"}},
		{"killed mid-build", State{Status: StatusStarted, Raw: "m1", Project: "p1"}, "p1", "m1", true, Decision{Reason: "the last dbt build did not succeed (started)", BuiltBy: "p1"}},
		{"never built", State{}, "p1", "m1", true, Decision{Reason: "no dbt build is recorded", BuiltBy: "p1"}},
		{"never built, no marts", State{}, "p1", "m1", false, Decision{Reason: "a mart is missing", BuiltBy: "p1"}},
	}
	for _, tc := range cases {
		if got := Decide(tc.last, tc.project, tc.marks, tc.martsExist); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
