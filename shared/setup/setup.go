// Package setup builds what the deployed functions share from their
// configuration: the Cloud Storage lake, the BigQuery warehouse, the
// transform trigger and the logger.
//
// Each function has one constructor, Setup(ctx, lookup, overrides), that the
// cloud registration calls with nil Overrides and the local runner calls with
// Overrides that swap the warehouse and the transform trigger for local
// stand-ins. Everything else is built the same way in both modes: Google's
// clients reach the emulators through their usual variables
// (STORAGE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST).
package setup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"cloud.google.com/go/pubsub/v2"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/pseudonym"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/source/connect"
	"github.com/shoplake/shoplake/shared/transform"
	"github.com/shoplake/shoplake/shared/warehouse"
	bqwarehouse "github.com/shoplake/shoplake/shared/warehouse/bigquery"
)

// Warehouse is every warehouse operation a function uses; each function
// declares the subset it needs, and both adapters implement all of them.
type Warehouse interface {
	Loaded(ctx context.Context, object, md5 string) (bool, error)
	LoadPartition(ctx context.Context, req warehouse.LoadRequest) (int64, error)
	RecordLoad(ctx context.Context, rec warehouse.LoadRecord) error
	RecordRun(ctx context.Context, run warehouse.Run) error
	InsertCartEvents(ctx context.Context, rows []warehouse.CartEventRow) ([]error, error)
	InsertRejectedEvents(ctx context.Context, rows []warehouse.RejectedEvent) error
}

var _ Warehouse = (*bqwarehouse.Warehouse)(nil)

// Transformer starts the warehouse transforms (dbt) after new raw data.
type Transformer interface {
	Start(ctx context.Context, reason string) error
}

// Overrides replace the adapters that have no emulator. The cloud passes nil.
type Overrides struct {
	// Warehouse replaces BigQuery (the local runner passes DuckDB).
	Warehouse Warehouse
	// Transform replaces the Cloud Run job that runs dbt.
	Transform Transformer
	// LogOutput receives the structured logs instead of standard output.
	LogOutput io.Writer
}

// Config is a function's configuration: a struct embedding config.Platform.
type Config interface {
	Shared() config.Platform
}

// Build is the body of every function's Setup: it loads the configuration
// from lookup with load, then calls build with it and an Env for the
// function's clients. A client that could not be built is the error.
func Build[C Config, F any](ctx context.Context, lookup config.Lookup, ov *Overrides,
	load func(config.Lookup) (C, error), build func(C, *Env) (F, error)) (F, error) {
	var zero F
	cfg, err := load(lookup)
	if err != nil {
		return zero, err
	}
	env := New(ctx, cfg.Shared(), ov)
	fn, err := build(cfg, env)
	if env.Err() != nil {
		return zero, env.Err()
	}
	return fn, err
}

// Env builds a function's clients from its platform configuration. Like
// config.Reader it keeps the first error: after one, the other builders
// return nil, and Err reports it, so a Setup reads as one list of what the
// function needs.
type Env struct {
	ctx context.Context
	p   config.Platform
	ov  *Overrides
	err error
	gcs *storage.Client
}

// New returns an Env for a function configured with p; ov is nil in the
// cloud.
func New(ctx context.Context, p config.Platform, ov *Overrides) *Env {
	return &Env{ctx: ctx, p: p, ov: ov}
}

// Err returns the first construction error.
func (e *Env) Err() error { return e.err }

func (e *Env) fail(err error) { e.err = err }

// Logger returns the function's Cloud Logging JSON logger, writing to
// standard output unless overridden.
func (e *Env) Logger() *slog.Logger {
	if e.ov != nil && e.ov.LogOutput != nil {
		return e.p.Logger(e.ov.LogOutput)
	}
	return e.p.Logger(os.Stdout)
}

// Warehouse returns the raw dataset's warehouse: BigQuery, unless
// overridden.
func (e *Env) Warehouse() Warehouse {
	if e.err != nil {
		return nil
	}
	if e.ov != nil && e.ov.Warehouse != nil {
		return e.ov.Warehouse
	}
	wh, err := bqwarehouse.Open(e.ctx, bqwarehouse.Config{ProjectID: e.p.ProjectID, Dataset: e.p.RawDataset, Location: e.p.Location})
	if err != nil {
		e.fail(err)
		return nil
	}
	return wh
}

// Storage returns the Cloud Storage client (one per Env).
func (e *Env) Storage() *storage.Client {
	if e.err == nil && e.gcs == nil {
		gcs, err := storage.NewClient(e.ctx)
		if err != nil {
			e.fail(fmt.Errorf("storage client: %w", err))
			return nil
		}
		e.gcs = gcs
	}
	return e.gcs
}

// Lake returns the lake writer on the raw bucket.
func (e *Env) Lake() *lake.Writer {
	gcs := e.Storage()
	if e.err != nil {
		return nil
	}
	lw, err := lake.NewWriter(lake.Config{Bucket: e.p.RawBucket}, gcs)
	if err != nil {
		e.fail(err)
	}
	return lw
}

// RawBucket returns a handle on the raw bucket.
func (e *Env) RawBucket() *storage.BucketHandle {
	if gcs := e.Storage(); gcs != nil {
		return gcs.Bucket(e.p.RawBucket)
	}
	return nil
}

// Source returns the storefront client; when cfg.APIKeySecret names a
// Secret Manager version, the API key is read from it.
func (e *Env) Source(cfg source.Config) *source.Client {
	if e.err != nil {
		return nil
	}
	src, err := source.Open(e.ctx, cfg)
	if err != nil {
		e.fail(err)
	}
	return src
}

// Store opens the store cfg names (SOURCE_KIND), its credentials read from
// Secret Manager when cfg says so.
func (e *Env) Store(cfg connect.Config) *connect.Source {
	if e.err != nil {
		return nil
	}
	src, err := connect.Open(e.ctx, cfg)
	if err != nil {
		e.fail(fmt.Errorf("source %s: %w", cfg.Kind, err))
	}
	return src
}

// Pseudonym returns the pseudonymisation key cfg names, read from Secret
// Manager when cfg.Secret is set.
func (e *Env) Pseudonym(cfg pseudonym.Config) pseudonym.Key {
	if e.err != nil {
		return pseudonym.Key{}
	}
	k, err := pseudonym.Open(e.ctx, cfg)
	if err != nil {
		e.fail(fmt.Errorf("pseudonymisation key: %w", err))
	}
	return k
}

// PubSub returns a Pub/Sub client for the project.
func (e *Env) PubSub() *pubsub.Client {
	if e.err != nil {
		return nil
	}
	ps, err := pubsub.NewClient(e.ctx, e.p.ProjectID)
	if err != nil {
		e.fail(fmt.Errorf("pubsub client: %w", err))
	}
	return ps
}

// Transform returns the transform trigger: the override, else the Cloud Run
// job named job, else one that logs on every call that transforms are not
// configured.
func (e *Env) Transform(job string) Transformer {
	switch {
	case e.err != nil:
		return nil
	case e.ov != nil && e.ov.Transform != nil:
		return e.ov.Transform
	case job == "":
		return transform.NotConfigured{Logger: e.Logger(), Hint: "set TRANSFORM_JOB to the dbt Cloud Run job"}
	}
	jobs, err := run.NewJobsClient(e.ctx)
	if err != nil {
		e.fail(fmt.Errorf("cloud run jobs client: %w", err))
		return nil
	}
	return transform.NewCloudRunJob(job, jobs)
}
