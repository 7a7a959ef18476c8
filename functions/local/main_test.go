package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/pseudonym"
)

// TestMain lets the test binary act as the runner: each run is a fresh
// process, as `make run` is, because functions-framework's registry is
// process-wide.
func TestMain(m *testing.M) {
	if os.Getenv("SHOPLAKE_AS_RUNNER") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	if baseline.dir != "" {
		os.RemoveAll(baseline.dir)
	}
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// runner returns the command that runs the local runner: this test binary,
// run again as main. Under -short it skips the test instead, so that make
// test can run the package's other tests under the race detector quickly.
func runnerCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SHOPLAKE_AS_RUNNER=1")
	return cmd
}

func runLocal(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := runnerCmd(t, append([]string{"--dir", dir}, args...)...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// openWarehouse opens the run's DuckDB warehouse; the caller closes it
// before the next run, which needs the file to itself.
func openWarehouse(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func counts(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	out := map[string]int64{}
	for _, table := range []string{"products", "users"} {
		var n int64
		if err := db.QueryRow("select count(*) from bq_raw." + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func lastRun(t *testing.T, dir string) summary.Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "last-run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s summary.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// dbtArgs passes the project's dbt to the runner when make test provides it.
func dbtArgs() []string {
	if dbt := os.Getenv("SHOPLAKE_DBT"); dbt != "" {
		return []string{"--dbt", dbt, "--dbt-project", "../../dbt"}
	}
	return nil
}

func TestRunScale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runLocal(t, dir, nil, "--port", "0", "--scale", "5000")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if diff := cmp.Diff(map[string]int64{"products": 5000, "users": 5000}, counts(t, dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestBadConfigurationIsOneClearLine: each mistake ends the run with exit 1
// and a single stderr line naming the problem, never a stack trace.
func TestBadConfigurationIsOneClearLine(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	cases := []struct {
		name string
		env  []string
		args []string
		want string
		// warehouse, when set, is the content of the run directory's
		// warehouse file before the run.
		warehouse string
	}{
		{"unreachable source", []string{"SOURCE_BASE_URL=" + downURL}, nil, "is unreachable", ""},
		{"malformed source URL", []string{"SOURCE_BASE_URL=fakestore"}, nil, "SOURCE_BASE_URL", ""},
		{"port in use", nil, []string{"--port", busyPort}, "port " + busyPort + " is in use", ""},
		{"bad log level", []string{"LOG_LEVEL=loud"}, nil, "LOG_LEVEL", ""},
		{"bad timeout", []string{"SOURCE_TIMEOUT=soon"}, nil, "SOURCE_TIMEOUT: must be a positive duration", ""},
		{"bad flag", nil, []string{"--scale", "many"}, "invalid value \"many\" for flag -scale", ""},
		{"scale with external source", []string{"SOURCE_BASE_URL=http://127.0.0.1:1"}, []string{"--scale", "10"}, "cannot be combined", ""},
		{"damaged warehouse", nil, nil, `"make run ARGS=--rebuild" replaces it`, "not a DuckDB database"},
		{"no dbt project", nil, []string{"--port", "0", "--dbt", "/bin/true", "--dbt-project", os.TempDir()}, "no dbt project in " + os.TempDir(), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			if len(args) == 0 {
				args = []string{"--port", "0"}
			}
			dir := t.TempDir()
			if tc.warehouse != "" {
				if err := os.WriteFile(filepath.Join(dir, "warehouse.duckdb"), []byte(tc.warehouse), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := runLocal(t, dir, tc.env, args...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "shoplake: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and one line containing %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr+r.stdout, "goroutine ") {
				t.Error("printed a stack trace")
			}
		})
	}
}

// TestPseudonymKeyIsWrittenNowhere: with the key set to a marker, no file of
// the run directory (dbt's target and logs included), no warehouse row and
// no output holds the marker, while dim_users holds the HMAC of each address
// under it, the same on the next run.
func TestPseudonymKeyIsWrittenNowhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const marker = "MARKER-pseudonym-key-7f3a"
	env := []string{"PSEUDONYM_KEY=" + marker}
	args := append([]string{"--port", "0"}, dbtArgs()...)
	var outputs strings.Builder
	for range 2 {
		r := runLocal(t, dir, env, args...)
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		outputs.WriteString(r.stdout + r.stderr)
	}
	if strings.Contains(outputs.String(), marker) {
		t.Error("the run's output shows the key")
	}
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s holds the key", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pseudonym.key")); err == nil {
		t.Error("a key given in PSEUDONYM_KEY was kept on disk")
	}

	var users bytes.Buffer
	if _, _, err := storefront.Fixtures().WriteEntity(&users, "users"); err != nil {
		t.Fatal(err)
	}
	var fixture []struct {
		ID    int64
		Email string
	}
	if err := json.Unmarshal(users.Bytes(), &fixture); err != nil {
		t.Fatal(err)
	}
	key, _ := pseudonym.NewKey(marker)
	want := map[int64]string{}
	for _, u := range fixture {
		want[u.ID] = key.Email(u.Email)
	}
	query := "select distinct id, email_hash from bq_raw.users"
	if os.Getenv("SHOPLAKE_DBT") != "" {
		query = "select user_id, email_hash from bq_analytics.dim_users"
	}
	db := openWarehouse(t, dir)
	defer db.Close()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64]string{}
	for rows.Next() {
		var id int64
		var h string
		if err := rows.Scan(&id, &h); err != nil {
			t.Fatal(err)
		}
		got[id] = h
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: pseudonyms (-HMAC of the fixtures +got):\n%s", query, diff)
	}
}
