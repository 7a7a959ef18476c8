package dbtrun

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/rundir"
	"github.com/shoplake/shoplake/shared/schema"
	"github.com/shoplake/shoplake/shared/warehouse"
)

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
	err := db.QueryRowContext(ctx, fmt.Sprintf(`select
		(select count(*) from %[1]s),
		(select cast(max(ingested_at) as varchar) from %[1]s),
		(select count(*) from %[2]s),
		(select cast(max(loaded_at) as varchar) from %[2]s),
		(select count(*) from %[3]s)`, names.Raw(schema.CartEvents), names.Raw(schema.LoadMetadata), names.Raw(schema.CartEventsRejected))).Scan(&events, &lastEvent, &loads, &lastLoad, &rejected)
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
