// Package loadrawobject is the LoadRawObject function: on every object
// finalized in the raw bucket (a google.cloud.storage.object.v1.finalized
// CloudEvent from Eventarc), it loads a raw snapshot into its table's day
// partition, starts the warehouse transforms and records the load.
//
// Retries are safe at every step: a load replaces its partition (and reuses
// its job), an object already recorded with the same md5 is skipped, and the
// load is recorded last, so a failure before that redoes only idempotent work.
package loadrawobject

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// FunctionName is the entry point's name.
const FunctionName = "LoadRawObject"

// Warehouse is what LoadRawObject needs of the warehouse.
type Warehouse interface {
	Loaded(ctx context.Context, object, md5 string) (bool, error)
	LoadPartition(ctx context.Context, req warehouse.LoadRequest) (int64, error)
	RecordLoad(ctx context.Context, rec warehouse.LoadRecord) error
	RecordRun(ctx context.Context, run warehouse.Run) error
}

// Transformer starts the warehouse transforms (dbt) after new raw data.
type Transformer interface {
	Start(ctx context.Context, reason string) error
}

// Deps are the Function's collaborators.
type Deps struct {
	Warehouse Warehouse
	Transform Transformer
	Logger    *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Function loads raw objects into the warehouse.
type Function struct {
	cfg  Config
	deps Deps
}

// New returns a Function. Every dependency is required except Now.
func New(cfg Config, deps Deps) (*Function, error) {
	if deps.Warehouse == nil || deps.Transform == nil || deps.Logger == nil {
		return nil, errors.New("loadrawobject: Warehouse, Transform and Logger are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Function{cfg: cfg, deps: deps}, nil
}

// Outcomes of a Load.
const (
	OutcomeLoaded  = "loaded"
	OutcomeSkipped = "skipped"
	OutcomeIgnored = "ignored"
)

// Result reports what Load did.
type Result struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Table   string `json:"table,omitempty"`
	Rows    int64  `json:"rows,omitempty"`
}

// ErrPermanent marks failures a redelivery cannot fix: an object under raw/
// that does not name a known entity, or data the warehouse refuses.
var ErrPermanent = errors.New("permanent failure")

// Load handles one finalized object on behalf of the run runID (recorded with
// the load). It returns an error wrapping ErrPermanent for poison input; any
// other error is transient.
func (f *Function) Load(ctx context.Context, obj Object, runID string) (Result, error) {
	if obj.Bucket != f.cfg.RawBucket {
		return Result{Outcome: OutcomeIgnored, Reason: fmt.Sprintf("bucket %q is not the raw bucket", obj.Bucket)}, nil
	}
	if !strings.HasPrefix(obj.Name, lake.RawPrefix) {
		return Result{Outcome: OutcomeIgnored, Reason: "object is outside " + lake.RawPrefix}, nil
	}
	if strings.HasPrefix(obj.Name, lake.CartEventsArchivePrefix) {
		return Result{Outcome: OutcomeIgnored, Reason: "the cart event archive is streamed, not loaded (it is replayed to rebuild the warehouse)"}, nil
	}
	entity, day, err := lake.ParseRawObject(obj.Name)
	if err != nil {
		return Result{}, fmt.Errorf("%w: object gs://%s/%s: %w", ErrPermanent, obj.Bucket, obj.Name, err)
	}
	if !model.Loadable(entity) {
		return Result{}, fmt.Errorf("%w: object gs://%s/%s: unknown entity %q", ErrPermanent, obj.Bucket, obj.Name, entity)
	}
	uri := "gs://" + obj.Bucket + "/" + obj.Name
	res := Result{Table: entity}

	loaded, err := f.deps.Warehouse.Loaded(ctx, uri, obj.MD5)
	if err != nil {
		return res, err
	}
	if loaded {
		res.Outcome, res.Reason = OutcomeSkipped, "already loaded with md5 "+obj.MD5
		return res, nil
	}

	req := warehouse.LoadRequest{Table: entity, Day: day, Bucket: obj.Bucket, Object: obj.Name, Generation: obj.Generation}
	rows, err := f.deps.Warehouse.LoadPartition(ctx, req)
	if errors.Is(err, warehouse.ErrInvalidData) {
		return res, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	if err != nil {
		return res, err
	}
	res.Outcome, res.Rows = OutcomeLoaded, rows

	if err := f.deps.Transform.Start(ctx, "loaded "+uri); err != nil {
		return res, fmt.Errorf("start transforms after loading %s: %w", uri, err)
	}
	rec := warehouse.LoadRecord{
		ObjectName: uri, Generation: obj.Generation, MD5: obj.MD5, Entity: entity,
		PartitionDate: day.Format(lake.DateLayout), RowCount: rows,
		RunID: runID, LoadedAt: f.deps.Now().UTC(),
	}
	if err := f.deps.Warehouse.RecordLoad(ctx, rec); err != nil {
		return res, fmt.Errorf("record load of %s: %w", uri, err)
	}
	return res, nil
}
