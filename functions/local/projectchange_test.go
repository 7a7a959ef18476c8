package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/summary"
)

// TestRunRebuildsWhatAnEarlierProjectBuilt: a warehouse an earlier release
// of the dbt project built (another project fingerprint, int_carts_latest
// without a column the project now has, which an incremental build cannot
// read) is brought up to date by a plain rerun, although no raw table
// changed: the project is built from scratch (again after a rebuild that
// failed), and the marts come out as they were.
func TestRunRebuildsWhatAnEarlierProjectBuilt(t *testing.T) {
	if os.Getenv("SHOPLAKE_DBT") == "" {
		t.Skip("SHOPLAKE_DBT is not set (make test sets it)")
	}
	t.Parallel()
	dir := t.TempDir()
	args := append([]string{"--port", "0"}, dbtArgs()...)
	run := func(step string) (result, summary.Summary) {
		t.Helper()
		r := runLocal(t, dir, nil, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", step, r.code, r.stdout, r.stderr)
		}
		return r, lastRun(t, dir)
	}
	_, first := run("first run")

	db := openWarehouse(t, dir)
	if _, err := db.Exec("alter table bq_staging.int_carts_latest drop column order_dates"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := dbtrun.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.Project = "an-earlier-release"
	if err := dbtrun.WriteState(dir, st); err != nil {
		t.Fatal(err)
	}

	// A rebuild that fails leaves the earlier project recorded, so the next
	// run rebuilds from scratch again.
	broken := filepath.Join(t.TempDir(), "dbt")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := runLocal(t, dir, nil, "--port", "0", "--dbt", broken, "--dbt-project", "../../dbt"); r.code == 0 || !strings.Contains(r.stdout, "--full-refresh") {
		t.Fatalf("the rebuild with a failing dbt: exit %d\n%s", r.code, r.stdout)
	}
	if st, err := dbtrun.ReadState(dir); err != nil || st.Project != "an-earlier-release" || st.Status != "failed" {
		t.Fatalf("build state after the failed rebuild: %+v (%v)", st, err)
	}

	r, second := run("run after the project changed")
	for _, want := range []string{"the dbt project changed since the last build: rebuilding from scratch (--full-refresh)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if second.DBT.Status != "built" || second.DBT.Revenue != first.DBT.Revenue || !maps.Equal(second.DBT.MartRows, first.DBT.MartRows) {
		t.Errorf("after the rebuild: dbt %s, marts %v revenue %s; want built, %v and %s",
			second.DBT.Status, second.DBT.MartRows, second.DBT.Revenue, first.DBT.MartRows, first.DBT.Revenue)
	}
	if n := second.DBT.Tests["pass"]; n == 0 || n != first.DBT.Tests["pass"] || len(second.DBT.Failed) > 0 {
		t.Errorf("tests after the rebuild: %v (failed %v), want the first run's %v", second.DBT.Tests, second.DBT.Failed, first.DBT.Tests)
	}
	st, err = dbtrun.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := dbtrun.ProjectMark("../../dbt"); st.Project != want || st.Status != "succeeded" {
		t.Errorf("build state %+v, want succeeded with project %s", st, want)
	}
	if _, third := run("run with nothing changed"); third.DBT.Status != "skipped" {
		t.Errorf("dbt after a run with nothing changed: %s (%s), want skipped", third.DBT.Status, third.DBT.Reason)
	}
}
