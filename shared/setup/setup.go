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

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/lake"
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

// Logger returns the function's Cloud Logging JSON logger.
func Logger(p config.Platform, ov *Overrides) *slog.Logger {
	if ov != nil && ov.LogOutput != nil {
		return p.Logger(ov.LogOutput)
	}
	return p.Logger(os.Stdout)
}

// OpenWarehouse returns the raw dataset's warehouse: BigQuery, unless
// overridden.
func OpenWarehouse(ctx context.Context, p config.Platform, ov *Overrides) (Warehouse, error) {
	if ov != nil && ov.Warehouse != nil {
		return ov.Warehouse, nil
	}
	return bqwarehouse.Open(ctx, bqwarehouse.Config{ProjectID: p.ProjectID, Dataset: p.RawDataset, Location: p.Location})
}

// OpenLake returns a Cloud Storage client and the lake writer on the raw
// bucket.
func OpenLake(ctx context.Context, p config.Platform) (*storage.Client, *lake.Writer, error) {
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("storage client: %w", err)
	}
	lw, err := lake.NewWriter(lake.Config{Bucket: p.RawBucket}, gcs)
	if err != nil {
		return nil, nil, err
	}
	return gcs, lw, nil
}

// OpenTransform returns the transform trigger: the override, else the Cloud
// Run job named job, else one that logs on every call that transforms are
// not configured.
func OpenTransform(ctx context.Context, job string, logger *slog.Logger, ov *Overrides) (Transformer, error) {
	switch {
	case ov != nil && ov.Transform != nil:
		return ov.Transform, nil
	case job == "":
		return transform.NotConfigured{Logger: logger, Hint: "set TRANSFORM_JOB to the dbt Cloud Run job"}, nil
	}
	jobs, err := run.NewJobsClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("cloud run jobs client: %w", err)
	}
	return transform.NewCloudRunJob(job, jobs), nil
}
