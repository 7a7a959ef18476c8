package summary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shoplake/shoplake/functions/ingestbatch"
	"github.com/shoplake/shoplake/functions/local/internal/audit"
	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/progress"
	"github.com/shoplake/shoplake/functions/local/internal/rundir"
	"github.com/shoplake/shoplake/functions/pollcarts"
	"github.com/shoplake/shoplake/shared/drift"
	"github.com/shoplake/shoplake/shared/schema"
	"github.com/shoplake/shoplake/shared/warehouse"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// Summary is what a local run did, printed for people and written as JSON to
// Dir/last-run.json for scripts.
type Summary struct {
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
	Source    string    `json:"source"`
	// SourceKind is the kind of store read (--source).
	SourceKind string               `json:"source_kind"`
	Dir        string               `json:"dir"`
	Warehouse  string               `json:"warehouse"`
	LogFile    string               `json:"log_file"`
	Ingest     ingestbatch.Summary  `json:"ingest"`
	Deliveries []emulation.Delivery `json:"deliveries"`
	Entities   []EntityReport       `json:"entities"`
	Backlog    emulation.PushStats  `json:"backlog"`
	// Rebuilt is set when the run rebuilt the warehouse from the lake, and
	// Replayed counts the archived events it replayed.
	Rebuilt  bool         `json:"rebuilt"`
	Replayed int64        `json:"replayed"`
	Polls    []PollReport `json:"polls"`
	// Carts compares PollCarts' state with the warehouse after the last
	// poll (see audit.CartAudit).
	Carts          audit.CartAudit `json:"carts"`
	Streaming      StreamReport    `json:"streaming"`
	NothingChanged bool            `json:"nothing_changed"`
	DBT            dbtrun.Report   `json:"dbt"`
	// Phases are the run's steps in order, with their times.
	Phases []Phase `json:"phases"`
	// Status is "succeeded" or "failed" and Error what failed.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Phase is one step of a run: ingest, load, backlog, poll, delivery or dbt.
type Phase struct {
	Name string `json:"name"`
	// Start is when the phase began, in seconds from the start of the run.
	Start   float64 `json:"start_s"`
	Seconds float64 `json:"seconds"`
	Failed  bool    `json:"failed,omitempty"`
	// PeakRSS is the runner's highest resident memory during the phase, in
	// bytes (0 where unknown). Phases that overlap share their peak.
	PeakRSS int64 `json:"peak_rss_bytes,omitempty"`
}

// StartPhase starts timing the named phase; the returned function ends it,
// failed when err is not nil, and returns err.
func (s *Summary) StartPhase(name string) func(err error) error {
	begin := time.Now()
	progress.ResetPeakRSS()
	return func(err error) error {
		s.Phases = append(s.Phases, Phase{Name: name, Start: begin.Sub(s.StartedAt).Seconds(),
			Seconds: time.Since(begin).Seconds(), Failed: err != nil, PeakRSS: progress.PeakRSS()})
		return err
	}
}

// Drift returns the schema drift of every entity the run read: products
// and users from the ingest, carts from the last poll that read a listing.
func (s *Summary) Drift() map[string]drift.Report {
	out := map[string]drift.Report{}
	for _, e := range s.Ingest.Entities {
		if e.Drift != nil {
			out[e.Entity] = *e.Drift
		}
	}
	for _, p := range s.Polls {
		if p.Poll.Drift != nil {
			out["carts"] = *p.Poll.Drift
		}
	}
	return out
}

// PollReport is one poll of carts and the delivery of its events.
type PollReport struct {
	Poll    pollcarts.Summary   `json:"poll"`
	Push    emulation.PushStats `json:"push"`
	Seconds float64             `json:"seconds"`
}

// StreamReport is the state of the streaming tables after the run.
type StreamReport struct {
	CartEventRows  int64 `json:"cart_event_rows"`
	DistinctEvents int64 `json:"distinct_events"`
	RejectedEvents int64 `json:"rejected_events"`
}

// EntityReport is one entity's line of the summary.
type EntityReport struct {
	Entity   string `json:"entity"`
	Fetched  int64  `json:"fetched"`
	Valid    int64  `json:"valid"`
	Rejected int64  `json:"rejected"`
	// RejectReasons counts the rejected records by kind of reason.
	RejectReasons map[string]int64 `json:"reject_reasons,omitempty"`
	Object        string           `json:"object"`
	Unchanged     bool             `json:"unchanged"`
	// LoadedRows is how many rows this run loaded into the raw table.
	LoadedRows int64 `json:"loaded_rows"`
	// TableRows is the raw table's row count after the run.
	TableRows int64   `json:"table_rows"`
	Seconds   float64 `json:"seconds"`
}

// Collect fills the per-entity report from the ingest summary, the
// deliveries and the warehouse.
func (s *Summary) Collect(ctx context.Context, wh *duckdb.Warehouse) error {
	s.Entities = nil
	for _, e := range s.Ingest.Entities {
		r := EntityReport{
			Entity: e.Entity, Fetched: e.Fetched, Valid: e.Valid, Rejected: e.Rejected, RejectReasons: e.RejectReasons,
			Object: e.Object, Unchanged: e.Unchanged, Seconds: float64(e.DurationMillis) / 1000,
		}
		for _, d := range s.Deliveries {
			if d.Object != e.Object {
				continue
			}
			r.Seconds += d.Seconds
			err := wh.DB().QueryRowContext(ctx,
				"select coalesce(sum(row_count), 0) from "+names.Raw(schema.LoadMetadata)+" where object_name = ? and generation = ?",
				"gs://"+names.Bucket+"/"+d.Object, d.Generation).Scan(&r.LoadedRows)
			if err != nil {
				return fmt.Errorf("read load of %s: %w", d.Object, err)
			}
		}
		n, err := wh.CountRows(ctx, e.Entity)
		if err != nil {
			return err
		}
		r.TableRows = n
		s.Entities = append(s.Entities, r)
	}
	err := wh.DB().QueryRowContext(ctx, "select count(*), count(distinct event_id) from "+names.Raw(schema.CartEvents)).
		Scan(&s.Streaming.CartEventRows, &s.Streaming.DistinctEvents)
	if err != nil {
		return fmt.Errorf("count cart events: %w", err)
	}
	if s.Streaming.RejectedEvents, err = wh.CountRows(ctx, schema.CartEventsRejected); err != nil {
		return err
	}
	s.NothingChanged = len(s.Deliveries) == 0 && !s.Rebuilt && !s.Carts.Realigned
	for _, e := range s.Entities {
		if !e.Unchanged {
			s.NothingChanged = false
		}
	}
	if s.Backlog.Delivered > 0 {
		s.NothingChanged = false
	}
	for _, p := range s.Polls {
		if p.Poll.Published > 0 || p.Push.Delivered > 0 {
			s.NothingChanged = false
		}
	}
	return nil
}

// Finish records the run's start and length, and its status: succeeded
// unless Failed set it.
func (s *Summary) Finish(started time.Time) {
	s.StartedAt = started.UTC()
	s.Seconds = time.Since(started).Seconds()
	if s.Status == "" {
		s.Status = warehouse.StatusSucceeded
	}
}

// Failed records a run that ended with err: the summary written so far is
// kept in last-run.json and the run history for the operator, and err is
// returned, joined with the failure to write them if there was one.
func (s *Summary) Failed(started time.Time, err error) (*Summary, error) {
	s.Status, s.Error = warehouse.StatusFailed, err.Error()
	s.Finish(started)
	if werr := s.Write(); werr != nil {
		err = errors.Join(err, werr)
	}
	return s, err
}

// Path is where the summary is written: Dir/last-run.json.
func (s *Summary) Path() string { return filepath.Join(s.Dir, "last-run.json") }

// KeepRuns is how many run summaries Dir/runs/ keeps for the report.
const KeepRuns = 50

// runsDir holds one summary per run, named by its start time, for the report.
func runsDir(dir string) string { return filepath.Join(dir, "runs") }

// Write writes the summary to Path and to the run history kept for the
// report (Dir/runs/, the last KeepRuns runs), each replaced as one step.
func (s *Summary) Write() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := rundir.ReplaceFile(s.Path(), b, 0o644); err != nil {
		return fmt.Errorf("write run summary: %w", err)
	}
	if err := os.MkdirAll(runsDir(s.Dir), 0o755); err != nil {
		return fmt.Errorf("write run history: %w", err)
	}
	name := filepath.Join(runsDir(s.Dir), s.StartedAt.Format("20060102T150405.000000000Z")+".json")
	if err := rundir.ReplaceFile(name, b, 0o644); err != nil {
		return fmt.Errorf("write run history: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(runsDir(s.Dir), "*.json"))
	for len(old) > KeepRuns { // names sort by time
		_ = os.Remove(old[0])
		old = old[1:]
	}
	return nil
}

// readRuns returns the kept run summaries, oldest first.
func readRuns(dir string) ([]Summary, error) {
	names, err := filepath.Glob(filepath.Join(runsDir(dir), "*.json"))
	if err != nil {
		return nil, err
	}
	var runs []Summary
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read run history: %w", err)
		}
		var s Summary
		if err := json.Unmarshal(b, &s); err != nil {
			continue // a file that is not a summary; the others still count
		}
		runs = append(runs, s)
	}
	return runs, nil
}

// DeadLettered counts the messages the run's deliveries dead-lettered.
func (s *Summary) DeadLettered() int64 {
	n := s.Backlog.DeadLettered
	for _, p := range s.Polls {
		n += p.Push.DeadLettered
	}
	return n
}
