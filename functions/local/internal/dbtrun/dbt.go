// Package dbtrun runs the dbt project on the local warehouse: dbt build with
// its progress, source freshness, the marts' row counts and the semantic
// layer's headline metrics, the state of the last build, and the decision
// whether a run must build (Decide), which needs no dbt to test.
package dbtrun

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
