package duckdb

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/shared/lake/laketest"
)

// TestPythonOpensTheSameDatabase checks that the project's Python duckdb
// (requirements.txt, installed by make into .venv) is the DuckDB release Go
// links, and that it reads a database file Go wrote: the dbt transforms run
// on the local warehouse from Python. make test sets SHOPLAKE_PYTHON; a bare
// go test skips.
func TestPythonOpensTheSameDatabase(t *testing.T) {
	python := os.Getenv("SHOPLAKE_PYTHON")
	if python == "" {
		t.Skip("SHOPLAKE_PYTHON is not set (make test sets it to the project's .venv)")
	}
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := Open(context.Background(), Config{Path: path, Dataset: "bq_raw"}, memObjects{"o": laketest.ProductSnapshot("2026-11-22", 1, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	var goVersion string
	if err := w.DB().QueryRow("select version()").Scan(&goVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, w, "o", "2026-11-22"); err != nil {
		t.Fatal(err)
	}
	w.Close() // release the file for Python

	script := `import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.sql("select version()").fetchone()[0])
print(con.sql("select count(*), sum(price) from bq_raw.products").fetchone())`
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python could not read the Go-written database: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] != goVersion {
		t.Fatalf("Python duckdb says %q, Go links %s; pin duckdb in requirements.txt to the same release", lines, goVersion)
	}
	if lines[1] != "(3, Decimal('30.750000000'))" {
		t.Errorf("Python read %s from the products table, want 3 rows totalling 30.75", lines[1])
	}
}
