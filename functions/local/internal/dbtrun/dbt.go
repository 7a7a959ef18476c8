// Package dbtrun runs the dbt project on the local warehouse: dbt build with
// its progress, source freshness, the marts' row counts and the semantic
// layer's headline metrics, the state of the last build, and the decision
// whether a run must build (Decide), which needs no dbt to test.
package dbtrun

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/progress"
	"github.com/shoplake/shoplake/functions/local/internal/rundir"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// StateFile is the file of the run directory that holds the state of the
// last dbt build (State).
const StateFile = "dbt-state.json"

// Marts are the tables the dbt project builds in bq_analytics.
var Marts = []string{"dim_products", "dim_users", "dim_date", "fact_orders", "fact_order_items", "fact_daily_product_sales", "fact_cart_sessions"}

// Report is what the local transforms did.
type Report struct {
	// Status is "built", "skipped" or "not configured".
	Status  string  `json:"status"`
	Reason  string  `json:"reason,omitempty"`
	Result  string  `json:"result,omitempty"` // dbt's "Done. PASS=… TOTAL=…" line
	Seconds float64 `json:"seconds,omitempty"`
	LogFile string  `json:"log_file,omitempty"`
	// MartRows counts the rows of each mart after the run.
	MartRows map[string]int64 `json:"mart_rows,omitempty"`
	// Revenue is the revenue of the orders that were not deleted.
	Revenue string `json:"revenue,omitempty"`
	// UnpricedLines counts the lines of those orders whose product no
	// catalogue snapshot has listed yet: Revenue leaves them out.
	UnpricedLines int64 `json:"unpriced_lines,omitempty"`
	// Metrics are the semantic layer's headline figures after the build
	// (HeadlineMetrics), as a BI tool gets them from the same definitions.
	Metrics []Metric `json:"metrics,omitempty"`
	// Freshness is how recent each raw source is (dbt source freshness).
	Freshness []SourceFreshness `json:"freshness,omitempty"`
	// Tests counts the data and unit tests of the build by status (pass,
	// warn, fail, error, skipped), and Failed names those that did not pass.
	Tests  map[string]int `json:"tests,omitempty"`
	Failed []string       `json:"failed_tests,omitempty"`
}

// FreshnessEmpty is the freshness status of a raw table with no rows.
const FreshnessEmpty = "empty"

// SourceFreshness is one raw table's freshness as `dbt source freshness`
// judged it against the thresholds in _staging__sources.yml.
type SourceFreshness struct {
	Source string `json:"source"`
	// Status is pass, warn, error or runtime error.
	Status     string  `json:"status"`
	AgeSeconds float64 `json:"age_seconds"`
	// WarnAfter and ErrorAfter are the source's thresholds in seconds (0:
	// none).
	WarnAfter  float64 `json:"warn_after_s,omitempty"`
	ErrorAfter float64 `json:"error_after_s,omitempty"`
}

var (
	dbtDone = regexp.MustCompile(`Done\. PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+.*TOTAL=\d+`)
	// dbtNodeDone matches the line dbt prints when a node ends, such as
	// "12 of 45 OK created sql view model main.stg_users".
	dbtNodeDone = regexp.MustCompile(`\b(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP)\b`)
)

// Build runs `dbt build --target local` on the warehouse file, which the
// caller must have released, with dbt's logs and artefacts under dir, and
// with args (such as --full-refresh); every two seconds it prints on out the
// nodes done of the total, the rate and the time left.
func Build(ctx context.Context, dbt, project, dbPath, dir string, out io.Writer, args ...string) (Report, error) {
	r := Report{Status: "built", LogFile: LogPath(dir)}
	start := time.Now()
	_ = os.Remove(runResultsPath(dir))
	var done, total atomic.Int64
	stop := progress.Every(out, 2*time.Second, "dbt build:", "nodes", done.Load, total.Load)
	err := dbtCommand(ctx, dbt, project, dbPath, dir, func(line string) {
		if m := dbtDone.FindString(line); m != "" {
			r.Result = m
		}
		if m := dbtNodeDone.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			done.Add(1)
			total.Store(n)
		}
	}, append([]string{"build"}, args...)...)
	stop()
	r.Seconds = time.Since(start).Seconds()
	// A build that failed part-way still says which tests failed.
	r.Tests, r.Failed, _ = readTests(dir)
	if err != nil {
		return r, fmt.Errorf("dbt build failed (%s): see %s", cmp.Or(r.Result, err.Error()), r.LogFile)
	}
	return r, nil
}

// CheckFreshness runs `dbt source freshness` and reads its verdict per
// source. A stale source is reported, not an error: dbt exits non-zero then,
// so only a missing result file fails.
func CheckFreshness(ctx context.Context, dbt, project, dbPath, dir string) ([]SourceFreshness, error) {
	out := filepath.Join(dir, "dbt", "target", "sources.json")
	_ = os.Remove(out)
	runErr := dbtCommand(ctx, dbt, project, dbPath, dir, nil, "source", "freshness", "--output", out)
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("dbt source freshness wrote no results (%v): see %s", runErr, LogPath(dir))
	}
	fs, err := parseFreshness(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", out, err)
	}
	return fs, nil
}

// parseFreshness reads the verdicts of dbt's sources.json.
func parseFreshness(b []byte) ([]SourceFreshness, error) {
	var res struct {
		Results []struct {
			UniqueID string  `json:"unique_id"`
			Status   string  `json:"status"`
			Age      float64 `json:"max_loaded_at_time_ago_in_s"`
			Latest   *string `json:"max_loaded_at"`
			Criteria struct {
				WarnAfter  period `json:"warn_after"`
				ErrorAfter period `json:"error_after"`
			} `json:"criteria"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	var fs []SourceFreshness
	for _, r := range res.Results {
		// unique_id is source.<project>.<source>.<table>
		parts := strings.SplitN(r.UniqueID, ".", 3)
		f := SourceFreshness{Source: parts[len(parts)-1], Status: r.Status, AgeSeconds: r.Age,
			WarnAfter: r.Criteria.WarnAfter.seconds(), ErrorAfter: r.Criteria.ErrorAfter.seconds()}
		// No row to date: dbt reports an error and a nonsense age, from
		// no timestamp or (dbt-duckdb) from 0001-01-01.
		if r.Latest == nil || *r.Latest == "" || strings.HasPrefix(*r.Latest, "0001-01-01") || r.Age < 0 {
			f.Status, f.AgeSeconds = FreshnessEmpty, 0
		}
		fs = append(fs, f)
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Source < fs[j].Source })
	return fs, nil
}

// period is a dbt freshness threshold such as {"count": 2, "period": "hour"}.
type period struct {
	Count  *float64 `json:"count"`
	Period string   `json:"period"`
}

func (p period) seconds() float64 {
	unit := map[string]float64{"minute": 60, "hour": 3600, "day": 86400}[p.Period]
	if p.Count == nil {
		return 0
	}
	return *p.Count * unit
}

// runResultsPath is where dbt writes the results of the run's build.
func runResultsPath(dir string) string {
	return filepath.Join(dir, "dbt", "target", "run_results.json")
}

// readTests counts the tests of the last build by status from dbt's
// run_results.json.
func readTests(dir string) (map[string]int, []string, error) {
	path := runResultsPath(dir)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read dbt results: %w", err)
	}
	var res struct {
		Results []struct {
			UniqueID string `json:"unique_id"`
			Status   string `json:"status"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	counts := map[string]int{}
	var failed []string
	for _, r := range res.Results {
		if !strings.HasPrefix(r.UniqueID, "test.") && !strings.HasPrefix(r.UniqueID, "unit_test.") {
			continue
		}
		counts[r.Status]++
		if r.Status != "pass" {
			failed = append(failed, r.UniqueID)
		}
	}
	sort.Strings(failed)
	return counts, failed, nil
}

// LogPath is where the runner appends dbt's output, under the run's dir.
func LogPath(dir string) string { return filepath.Join(dir, "logs", "dbt.log") }

// dbtCommand runs one dbt command on the local target with the warehouse at
// dbPath, appending its output to LogPath(dir) and passing each stdout
// line to line (when not nil).
func dbtCommand(ctx context.Context, dbt, project, dbPath, dir string, line func(string), args ...string) error {
	absDB, err := filepath.Abs(dbPath)
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(LogPath(dir), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open dbt log: %w", err)
	}
	defer logFile.Close()
	// dbt reads relative paths from the project directory: the run's
	// directory is made absolute so that its artefacts land under it.
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	args = append(args, "--target", "local", "--no-use-colors",
		"--project-dir", project, "--profiles-dir", project,
		"--target-path", filepath.Join(absDir, "dbt", "target"), "--log-path", filepath.Join(absDir, "dbt", "logs"))
	cmd := exec.CommandContext(ctx, dbt, args...)
	cmd.Env = append(os.Environ(), "SHOPLAKE_DUCKDB_PATH="+absDB)
	dieWithRunner(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", dbt, err)
	}
	sc := bufio.NewScanner(io.TeeReader(out, logFile))
	for sc.Scan() {
		if line != nil {
			line(sc.Text())
		}
	}
	return cmd.Wait()
}

// CountMarts reads the marts' row counts, the revenue of live orders and how
// many of their lines are unpriced into r.
func CountMarts(ctx context.Context, dbPath string, r *Report) error {
	db, err := sql.Open("duckdb", dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	r.MartRows = map[string]int64{}
	for _, m := range Marts {
		var n int64
		if err := db.QueryRowContext(ctx, "select count(*) from bq_analytics."+m).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", m, err)
		}
		r.MartRows[m] = n
	}
	var revenue sql.NullString
	err = db.QueryRowContext(ctx, `select cast(sum(revenue) as decimal(18, 2))::varchar, coalesce(sum(unpriced_item_count), 0)
		from bq_analytics.fact_orders where not is_deleted`).Scan(&revenue, &r.UnpricedLines)
	if err != nil {
		return fmt.Errorf("sum revenue: %w", err)
	}
	r.Revenue = revenue.String
	return nil
}

// MartsExist reports whether every mart table is in the warehouse.
func MartsExist(ctx context.Context, db *sql.DB) bool {
	var n int
	err := db.QueryRowContext(ctx, "select count(*) from information_schema.tables where table_schema = 'bq_analytics' and list_contains(?::varchar[], table_name)",
		Marts).Scan(&n)
	return err == nil && n == len(Marts)
}

// Find resolves the dbt executable, or explains why there is none.
func Find(path string) (string, error) {
	if path == "" {
		return "", errors.New("no dbt given (make run passes the project's .venv/bin/dbt)")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("dbt not found at %s (make run installs it into .venv)", path)
	}
	return path, nil
}

// StatusStarted is the status of a dbt build that has not ended; it ends as
// warehouse.StatusSucceeded or warehouse.StatusFailed, like a pipeline run.
const StatusStarted = "started"

// State is the outcome of the last dbt build, the raw tables' high
// water marks it covered and the project it built, kept in
// <dir>/dbt-state.json. A build that was killed leaves "started", so the next
// run builds again.
type State struct {
	Status string `json:"status"`
	Raw    string `json:"raw"`
	// Project is the dbt project's fingerprint (projectMark) at the build.
	Project string `json:"project,omitempty"`
}

// ProjectMark fingerprints what a build of the dbt project depends on
// besides the raw tables: dbt_project.yml and every file under its models,
// macros, snapshots and tests (names and contents), so that a changed
// project is built again although no raw table changed.
func ProjectMark(project string) (string, error) {
	h := sha256.New()
	add := func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(project, path)
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
		h.Write(b)
		return nil
	}
	if err := add(filepath.Join(project, "dbt_project.yml")); err != nil {
		return "", fmt.Errorf("fingerprint the dbt project: %w", err)
	}
	for _, sub := range []string{"models", "macros", "snapshots", "tests"} {
		err := filepath.WalkDir(filepath.Join(project, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			return add(path)
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("fingerprint the dbt project: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// StatePath is the build state's file in the run directory dir.
func StatePath(dir string) string { return filepath.Join(dir, StateFile) }

// ReadState reads the last build's state; none recorded (or unreadable)
// is the zero State, which builds again.
func ReadState(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(StatePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read dbt state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, nil // unreadable: build again
	}
	return st, nil
}

// WriteState records st, replacing the file whole.
func WriteState(dir string, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := rundir.ReplaceFile(StatePath(dir), b, 0o644); err != nil {
		return fmt.Errorf("write dbt state: %w", err)
	}
	return nil
}

// RawMarks summarises what the raw tables hold (rows and newest arrival of
// the streamed events, the loads, the rejected events): when it differs from
// the last successful build's, the marts are behind.
func RawMarks(ctx context.Context, db *sql.DB) (string, error) {
	var events, loads, rejected int64
	var lastEvent, lastLoad sql.NullString
	err := db.QueryRowContext(ctx, `select
		(select count(*) from bq_raw.cart_events),
		(select cast(max(ingested_at) as varchar) from bq_raw.cart_events),
		(select count(*) from bq_raw._load_metadata),
		(select cast(max(loaded_at) as varchar) from bq_raw._load_metadata),
		(select count(*) from bq_raw.cart_events_rejected)`).Scan(&events, &lastEvent, &loads, &lastLoad, &rejected)
	if err != nil {
		return "", fmt.Errorf("read the raw tables' high-water marks: %w", err)
	}
	return fmt.Sprintf("cart_events %d to %s, loads %d to %s, rejected events %d",
		events, cmp.Or(lastEvent.String, "-"), loads, cmp.Or(lastLoad.String, "-"), rejected), nil
}

// Decision is whether a run builds the marts, and how.
type Decision struct {
	// Reason says why the marts are built; empty when they are up to date.
	Reason string
	// FullRefresh rebuilds every incremental model from scratch.
	FullRefresh bool
	// BuiltBy is the project whose tables the warehouse holds until this
	// build succeeds: a failed or interrupted build of a changed project
	// leaves it, so that the next run rebuilds from scratch again.
	BuiltBy string
}

// Decide says whether a run must build: when the project changed since the
// last build (from scratch: incremental tables hold rows the earlier
// project computed, maybe with other columns), the last build did not
// succeed, a mart is missing, no build is recorded, or the raw tables
// changed (marks, RawMarks) since the last one. project is ProjectMark's.
func Decide(last State, project, marks string, martsExist bool) Decision {
	d := Decision{BuiltBy: last.Project}
	if last.Status == "" {
		d.BuiltBy = project // a warehouse without any build holds no project's tables
	}
	switch {
	case last.Status != "" && last.Project != project:
		d.Reason, d.FullRefresh = "the dbt project changed since the last build: rebuilding from scratch (--full-refresh)", true
	case last.Status != "" && last.Status != warehouse.StatusSucceeded:
		d.Reason = fmt.Sprintf("the last dbt build did not succeed (%s)", last.Status)
	case !martsExist:
		d.Reason = "a mart is missing"
	case last.Status == "":
		d.Reason = "no dbt build is recorded"
	case last.Raw != marks:
		d.Reason = "the raw tables changed since the last build"
	}
	return d
}
