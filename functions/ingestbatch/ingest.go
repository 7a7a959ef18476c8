// Package ingestbatch is the IngestBatch function: called daily by Cloud
// Scheduler, it reads products and users from the storefront API, validates
// every record and writes one NDJSON snapshot per entity and day to the lake,
// quarantining invalid records under rejects/ with their reasons.
package ingestbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/drift"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/pseudonym"
	"github.com/shoplake/shoplake/shared/respond"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/source/connect"
	"github.com/shoplake/shoplake/shared/state"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// FunctionName is the entry point's name.
const FunctionName = "IngestBatch"

// Deps are the Function's collaborators.
type Deps struct {
	// Source lists a FakeStore's raw records, and retries every listing
	// (Retry) within SOURCE_RETRY_BUDGET.
	Source source.Lister
	// Store, when set, is read instead of Source's raw listings: its
	// canonical products, customers and orders become the snapshots of the
	// canonical raw tables (the store kinds other than FakeStore).
	Store source.Store
	// Key pseudonymises users' e-mail addresses before anything is written.
	Key    pseudonym.Key
	Lake   *lake.Writer
	Runs   warehouse.RunRecorder
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Function ingests batch entities into the lake.
type Function struct {
	cfg  Config
	deps Deps
}

// New returns a Function. Every dependency is required except Store and Now.
func New(cfg Config, deps Deps) (*Function, error) {
	if deps.Source == nil || !deps.Key.Valid() || deps.Lake == nil || deps.Runs == nil || deps.Logger == nil {
		return nil, errors.New("ingestbatch: Source, Key, Lake, Runs and Logger are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = DefaultRunTimeout
	}
	if cfg.CursorLookback <= 0 {
		cfg.CursorLookback = state.DefaultCursorLookback
	}
	if cfg.FullExportEvery <= 0 {
		cfg.FullExportEvery = DefaultFullExportEvery
	}
	return &Function{cfg: cfg, deps: deps}, nil
}

// Request is the optional JSON body of a call.
type Request struct {
	// Entities to ingest; empty means all batch entities (FakeStore:
	// products and users; other stores: products, customers and orders).
	Entities []string `json:"entities"`
	// Date is the snapshot date (YYYY-MM-DD) for backfills; empty means today (UTC).
	Date string `json:"date"`
	// AllowShrink publishes a snapshot even when it is empty or much smaller
	// than the last one (see source.CheckShrink): for a catalogue that really
	// shrank.
	AllowShrink bool `json:"allow_shrink"`
}

// EntityResult reports one entity of a run.
type EntityResult struct {
	Entity        string `json:"entity"`
	Fetched       int64  `json:"fetched"`
	Valid         int64  `json:"valid"`
	Rejected      int64  `json:"rejected"`
	Object        string `json:"object,omitempty"`
	Generation    int64  `json:"generation,omitempty"`
	Unchanged     bool   `json:"unchanged"`
	RejectsObject string `json:"rejects_object,omitempty"`
	// HeldObject is where a snapshot that failed the shrink check was kept,
	// under rejects/, instead of being published.
	HeldObject string `json:"held_object,omitempty"`
	// RejectReasons counts the rejected records by kind of reason
	// (lake.ReasonKind).
	RejectReasons map[string]int64 `json:"reject_reasons,omitempty"`
	// Drift is how the records' fields differ from the model's.
	Drift *drift.Report `json:"drift,omitempty"`
	// From is when an incremental listing started (its cursor less the
	// lookback); empty for a whole listing. Kept counts the records it
	// carried over from the last snapshot, Deleted those it left out as
	// the store's reconcile of ids no longer lists them.
	From           string `json:"from,omitempty"`
	Kept           int64  `json:"kept,omitempty"`
	Deleted        int64  `json:"deleted,omitempty"`
	Error          string `json:"error,omitempty"`
	DurationMillis int64  `json:"duration_ms"`
}

// Summary is the response of a run.
type Summary struct {
	RunID string `json:"run_id"`
	// Source is the kind of store read (fakestore, shopify, woocommerce).
	Source string `json:"source"`
	// Notice is what the operator must know about what the store lets
	// Shoplake read (Shopify without read_all_orders: 60 days of orders).
	Notice string `json:"notice,omitempty"`
	// Error says why the run failed before any entity was read.
	Error    string         `json:"error,omitempty"`
	Date     string         `json:"date"`
	Status   string         `json:"status"`
	Entities []EntityResult `json:"entities"`
}

// Error kinds a caller maps to HTTP statuses.
var (
	// ErrBadRequest marks a malformed request (400).
	ErrBadRequest = respond.ErrBadRequest
	// ErrSource marks a failure of the storefront API, including a listing
	// held back as collapsed (source.ErrCollapsed): 502.
	ErrSource = respond.Upstream("source failed")
)

// plan is a validated request.
type plan struct {
	entities    []string
	day         time.Time
	allowShrink bool
}

// entityNames are the entities a call may name.
func (f *Function) entityNames() []string {
	if f.deps.Store != nil {
		return storeEntityNames()
	}
	names := make([]string, len(model.BatchEntities))
	for i, e := range model.BatchEntities {
		names[i] = e.Name
	}
	return names
}

func (f *Function) plan(req Request, now time.Time) (plan, error) {
	var p plan
	known := f.entityNames()
	for _, name := range req.Entities {
		if !slices.Contains(known, name) {
			return plan{}, fmt.Errorf("%w: unknown entity %q (want %s)", ErrBadRequest, name, strings.Join(known, " or "))
		}
		if !slices.Contains(p.entities, name) {
			p.entities = append(p.entities, name)
		}
	}
	if len(p.entities) == 0 {
		p.entities = known
	}
	today := now.UTC().Truncate(24 * time.Hour)
	p.day = today
	p.allowShrink = req.AllowShrink
	if req.Date != "" {
		day, err := time.Parse(lake.DateLayout, req.Date)
		if err != nil {
			return plan{}, fmt.Errorf("%w: date %q is not YYYY-MM-DD", ErrBadRequest, req.Date)
		}
		if day.After(today) {
			return plan{}, fmt.Errorf("%w: date %s is in the future", ErrBadRequest, req.Date)
		}
		p.day = day
	}
	return p, nil
}

// Run ingests the requested entities. It returns a summary even on failure:
// entities that succeeded are reported alongside the ones that did not, and
// the error wraps ErrSource when the storefront API was the cause.
func (f *Function) Run(ctx context.Context, req Request) (Summary, error) {
	started := f.deps.Now()
	runID := warehouse.NewRunID(started)
	logger := logging.FromContextOr(ctx, f.deps.Logger).With(logging.Labels(runID, FunctionName))
	ctx = logging.WithLogger(ctx, logger)
	ctx, cancel := config.WithRunTimeout(ctx, FunctionName, f.cfg.RunTimeout)
	defer cancel()

	p, err := f.plan(req, started)
	if err != nil {
		return Summary{RunID: runID, Status: warehouse.StatusRejected}, err
	}
	sum := Summary{RunID: runID, Source: f.sourceKind(), Date: p.day.Format(lake.DateLayout), Status: warehouse.StatusSucceeded}
	stamp := lake.Stamp{Day: p.day, RunID: runID, ExtractedAt: started.UTC()}

	var errs []error
	if sum.Notice, err = f.notice(ctx); err != nil {
		err = config.NameRunTimeout(ctx, err)
		sum.Error = err.Error()
		errs = append(errs, err)
		logger.ErrorContext(ctx, "the store refused the check of what it lets Shoplake read", "error", err)
		p.entities = nil
	} else if sum.Notice != "" {
		logger.WarnContext(ctx, sum.Notice)
	}
	for _, name := range p.entities {
		var res EntityResult
		if f.deps.Store != nil {
			res, err = f.ingestStore(ctx, name, stamp, p.allowShrink)
		} else {
			e, _ := model.LookupBatchEntity(name)
			res, err = f.ingest(ctx, e.WithKey(f.deps.Key), stamp, p.allowShrink)
		}
		err = config.NameRunTimeout(ctx, err)
		if err != nil {
			res.Error = err.Error()
		}
		sum.Entities = append(sum.Entities, res)
		if err != nil {
			errs = append(errs, err)
			logger.ErrorContext(ctx, "ingest failed", "entity", name, "error", err)
			if connect.Refused(err) {
				break // every other listing would be refused the same
			}
			continue
		}
		logger.InfoContext(ctx, "ingested", "entity", name, "fetched", res.Fetched,
			"valid", res.Valid, "rejected", res.Rejected, "object", res.Object, "unchanged", res.Unchanged)
	}
	err = errors.Join(errs...)
	if err != nil {
		sum.Status = warehouse.StatusFailed
	}
	f.recordRun(ctx, sum, started, err)
	return sum, err
}

// ingest fetches one entity completely, then publishes its snapshot and its
// rejects. Nothing is published unless the whole list was read: a transient
// failure of the source at any point starts the entity over from nothing.
func (f *Function) ingest(ctx context.Context, e model.Entity, stamp lake.Stamp, allowShrink bool) (EntityResult, error) {
	start := f.deps.Now()
	var res EntityResult
	err := f.deps.Source.Retry(ctx, e.Name, func(ctx context.Context) error {
		res = EntityResult{Entity: e.Name}
		return f.attempt(ctx, e, stamp, allowShrink, &res)
	})
	res.DurationMillis = f.deps.Now().Sub(start).Milliseconds()
	return res, err
}

// attempt makes one attempt at ingest, filling res.
func (f *Function) attempt(ctx context.Context, e model.Entity, stamp lake.Stamp, allowShrink bool, res *EntityResult) error {
	snap := f.deps.Lake.Begin(ctx, lake.RawObject(e.Name, stamp.Day), stamp)
	defer snap.Abort()
	rejects := f.deps.Lake.Quarantine(e.Name, stamp)
	defer rejects.Abort()
	tracker := drift.NewTracker(e.Schema())
	var listed model.Listing // the ids of the valid records so far

	sourceErr, writeErr := canonicalize(ctx, e,
		func(fn func(json.RawMessage, error) error) error {
			return f.deps.Source.Each(ctx, e.Path, func(raw json.RawMessage, big *source.OversizedError) error {
				if big != nil {
					return fn(nil, big)
				}
				return fn(raw, nil)
			})
		},
		func(raw, rec []byte, id int64, invalid error) error {
			res.Fetched++
			if raw != nil {
				tracker.Observe(raw)
			}
			if invalid == nil && listed.Repeat(id) {
				invalid = model.Repeated(e.Name)
			}
			if invalid == nil {
				res.Valid++
				return snap.Add(rec)
			}
			var big *source.OversizedError
			if !errors.Is(invalid, model.ErrInvalid) && !errors.As(invalid, &big) {
				return invalid
			}
			res.Rejected++
			return rejects.Add(ctx, raw, invalid)
		})
	if sourceErr == nil {
		r := tracker.Report()
		res.Drift = &r
		drift.Log(ctx, logging.FromContext(ctx), e.Name, r)
	}
	if err := listingError(e.Name, writeErr, sourceErr); err != nil {
		return err
	}
	return f.publish(ctx, e.Name, snap, rejects, res, stamp.Day, allowShrink, res.Fetched, res.Valid, nil)
}

// listingError is the error of a listing of entity that ended with writeErr
// (a failure to write its snapshot or rejects) and sourceErr (the source's):
// the write's, else the source's, else nil.
func listingError(entity string, writeErr, sourceErr error) error {
	switch {
	case writeErr != nil:
		return fmt.Errorf("write %s snapshot: %w", entity, writeErr)
	case sourceErr != nil:
		return fmt.Errorf("%w: %s: %w", ErrSource, entity, sourceErr)
	}
	return nil
}

// lastSnapshot is the newest snapshot of an entity published on or before a
// day (lake.Writer.PreviousSnapshot): what a new one is measured against.
type lastSnapshot struct {
	prev  lake.Previous
	found bool
}

// lastSnapshot looks up the last snapshot of entity on or before day.
func (f *Function) lastSnapshot(ctx context.Context, entity string, day time.Time) (lastSnapshot, error) {
	prev, found, err := f.deps.Lake.PreviousSnapshot(ctx, entity, day)
	return lastSnapshot{prev, found}, err
}

// publish publishes a whole listing's snapshot and its rejects, or, when it
// fails the shrink check (source.CheckShrink) and allowShrink is false, holds
// the snapshot back under rejects/ and returns the error that says why. sent
// is how many records the snapshot was made of, got how many it holds; last
// is the snapshot they are measured against when the caller has looked it
// up already, else nil.
func (f *Function) publish(ctx context.Context, entity string, snap *lake.Snapshot, rejects *lake.Quarantine, res *EntityResult, day time.Time, allowShrink bool, sent, got int64, last *lastSnapshot) error {
	res.RejectReasons = rejects.Reasons() // published with the snapshot or beside the held one
	if !allowShrink {
		if last == nil {
			l, err := f.lastSnapshot(ctx, entity, day)
			if err != nil {
				return err
			}
			last = &l
		}
		prev, found := last.prev, last.found
		var err error
		before := int64(-1)
		if found {
			before = prev.Records
		}
		if collapsed := source.CheckShrink(entity, before, sent, got, f.cfg.Source.HTTP.MaxShrink); collapsed != nil {
			if found {
				collapsed = fmt.Errorf("%w (last: %s)", collapsed, prev.Object)
			}
			if res.HeldObject, err = snap.Hold(ctx, entity, collapsed); err != nil {
				return fmt.Errorf("hold %s snapshot: %w", entity, err)
			}
			if res.RejectsObject, err = rejects.Commit(ctx); err != nil {
				return err
			}
			logging.FromContext(ctx).ErrorContext(ctx, "listing held back", "entity", entity,
				"held_object", res.HeldObject, "reason", collapsed.Error())
			if res.Rejected > 0 {
				// Invalid records, not the source's size, may explain it.
				return fmt.Errorf("%w: %w; kept at %s, nothing published; rejected: %s (see %s); allow_shrink would publish the %d valid records only",
					ErrSource, collapsed, res.HeldObject, lake.TopReasons(res.RejectReasons, 3, model.ReasonPrefixes(entity)...), res.RejectsObject, got)
			}
			return fmt.Errorf("%w: %w; kept at %s, nothing published; call with allow_shrink to accept it", ErrSource, collapsed, res.HeldObject)
		}
	}

	out, err := snap.Commit(ctx)
	if err != nil {
		return fmt.Errorf("write %s snapshot: %w", entity, err)
	}
	res.Object, res.Generation, res.Unchanged = out.Object, out.Generation, out.Unchanged
	if res.RejectsObject, err = rejects.Commit(ctx); err != nil {
		return err
	}
	return nil
}

func (f *Function) recordRun(ctx context.Context, sum Summary, started time.Time, runErr error) {
	run := warehouse.Run{
		RunID: sum.RunID, Function: FunctionName, StartedAt: started.UTC(), FinishedAt: f.deps.Now().UTC(),
		Status: sum.Status, Details: warehouse.DetailsJSON(sum),
	}
	for _, e := range sum.Entities {
		run.RecordsIn += e.Fetched
		run.RecordsOut += e.Valid
		run.RecordsRejected += e.Rejected
	}
	if runErr != nil {
		run.Error = runErr.Error()
	}
	warehouse.Record(ctx, f.deps.Runs, run)
}
