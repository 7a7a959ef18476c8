package summary

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/report"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// ReportPath is where a run's report is drawn.
func ReportPath(dir string) string { return filepath.Join(dir, "report.html") }

// WriteReport draws Dir/report.html from the kept run summaries and the
// warehouse (opened read-only, when it exists) and returns its path.
func WriteReport(ctx context.Context, dir string, now time.Time) (string, error) {
	runs, err := readRuns(dir)
	if err != nil {
		return "", err
	}
	p := report.Page{Generated: now.UTC(), Dir: dir}
	for _, s := range runs {
		p.Runs = append(p.Runs, reportRun(s))
	}
	var latest *Summary
	if len(runs) > 0 {
		latest = &runs[len(runs)-1]
		p.Drift = latest.Drift()
		p.Rejects = rejectsOf(latest)
	}
	// The last run that built the marts says how its tests went, and the
	// last that checked freshness how old the raw tables are.
	var tested, checked *Summary
	for i := len(runs) - 1; i >= 0; i-- {
		if tested == nil && runs[i].DBT.Tests != nil {
			tested = &runs[i]
		}
		if checked == nil && runs[i].DBT.Freshness != nil {
			checked = &runs[i]
		}
	}
	if tested != nil {
		p.Tests, p.FailedTests = tested.DBT.Tests, tested.DBT.Failed
	}
	// The headline figures of the last build that asked the semantic layer.
	for i := len(runs) - 1; i >= 0 && p.Metrics == nil; i-- {
		for _, m := range runs[i].DBT.Metrics {
			p.Metrics = append(p.Metrics, report.Metric{Label: m.Label, Value: m.Value, Description: m.Description})
		}
	}

	db, err := openReadOnly(names.Warehouse(dir))
	if err != nil {
		return "", err
	}
	if db != nil {
		defer db.Close()
		if err := fromWarehouse(ctx, db, dir, latest, checked, now, &p); err != nil {
			return "", err
		}
	}
	sortRejects(p.Rejects)

	path := ReportPath(dir)
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	if err := report.Render(f, p); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return path, os.Rename(path+".tmp", path)
}

// reportRun is the part of a run summary the report draws.
func reportRun(s Summary) report.Run {
	r := report.Run{Started: s.StartedAt, Source: s.Ingest.Source, Seconds: s.Seconds, Status: s.Status, Error: s.Error, Rows: map[string]int64{}}
	if r.Status == "" {
		r.Status = warehouse.StatusSucceeded // summaries written before runs had a status
	}
	for _, p := range s.Phases {
		r.Phases = append(r.Phases, report.Phase{Name: p.Name, Start: p.Start, Seconds: p.Seconds, Failed: p.Failed})
	}
	for _, e := range s.Ingest.Entities {
		r.Rows[strings.TrimPrefix(e.Entity, "canonical_")] = e.Fetched
	}
	delivered := s.Backlog.Events
	for _, p := range s.Polls {
		r.Rows[s.polled()] = p.Poll.Fetched
		delivered += p.Push.Events
	}
	if len(s.Polls) > 0 || delivered > 0 {
		r.Rows["cart events"] = delivered
	}
	return r
}

// rejectsOf counts the run's rejected records by entity and kind of reason.
func rejectsOf(s *Summary) []report.Reject {
	var out []report.Reject
	add := func(entity string, reasons map[string]int64) {
		for reason, n := range reasons {
			out = append(out, report.Reject{Entity: entity, Reason: reason, Count: n})
		}
	}
	for _, e := range s.Ingest.Entities {
		add(e.Entity, e.RejectReasons)
	}
	carts := map[string]int64{}
	for _, p := range s.Polls {
		for reason, n := range p.Poll.RejectReasons {
			carts[reason] += n
		}
	}
	add(s.polled(), carts)
	return out
}

func sortRejects(r []report.Reject) {
	sort.Slice(r, func(i, j int) bool {
		if r[i].Count != r[j].Count {
			return r[i].Count > r[j].Count
		}
		return r[i].Entity+r[i].Reason < r[j].Entity+r[j].Reason
	})
}

// openReadOnly opens the DuckDB file read-only, or returns nil when there is
// none yet.
func openReadOnly(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// query runs q with args and calls scan for each row.
func query(ctx context.Context, db *sql.DB, q string, scan func(*sql.Rows) error, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
