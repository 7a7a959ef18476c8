package dbtrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryHeadlineFindsMFBesideARelativeDBT: make run passes dbt as a
// path relative to the repository (.venv/bin/dbt) while mf runs in the
// run's own directory, so mf's path must not stay relative. A stand-in mf
// writes the totals CSV it is asked for.
func TestQueryHeadlineFindsMFBesideARelativeDBT(t *testing.T) {
	root := t.TempDir()
	write := func(path, body string, mode os.FileMode) {
		t.Helper()
		path = filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	values := []string{"4691.27", "7.0", "670.1814285714", "6.0", "5.0", "42.0"}
	write("bin/dbt", "", 0o755)
	write("bin/mf", `#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = --csv ] && out=$2; shift; done
printf '%s\n%s\n' '`+strings.Join(HeadlineMetrics, ",")+`' '`+strings.Join(values, ",")+`' > "$out"
`, 0o755)
	write("project/dbt_project.yml", "name: shoplake\n", 0o644)
	var defs []string
	for _, m := range HeadlineMetrics {
		defs = append(defs, `{"name":"`+m+`","label":"`+m+` label"}`)
	}
	write("run/dbt/target/semantic_manifest.json", `{"metrics":[`+strings.Join(defs, ",")+`]}`, 0o644)
	t.Chdir(root)

	got, err := QueryHeadline(context.Background(), "bin/dbt", "project", "run", "run/warehouse.duckdb")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"4691.27", "7", "670.18", "6", "5", "42"}
	for i, m := range got {
		if m.Name != HeadlineMetrics[i] || m.Value != want[i] {
			t.Errorf("metric %d = %s %s, want %s %s", i, m.Name, m.Value, HeadlineMetrics[i], want[i])
		}
	}
}
