package loadrawobject

import (
	"context"
	"fmt"
	"os"

	run "cloud.google.com/go/run/apiv2"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/transform"
	bqwarehouse "github.com/shoplake/shoplake/shared/warehouse/bigquery"
)

// NewFromEnv builds the Function as deployed: configuration from the process
// environment, a BigQuery warehouse, and the Cloud Run job that runs dbt.
func NewFromEnv(ctx context.Context) (*Function, error) {
	cfg, err := LoadConfig(config.Env())
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger(os.Stdout)
	wh, err := bqwarehouse.Open(ctx, bqwarehouse.Config{ProjectID: cfg.ProjectID, Dataset: cfg.RawDataset, Location: cfg.Location})
	if err != nil {
		return nil, err
	}
	var tr Transformer = transform.NotConfigured{Logger: logger, Hint: "set TRANSFORM_JOB to the dbt Cloud Run job"}
	if cfg.TransformJob != "" {
		jobs, err := run.NewJobsClient(ctx)
		if err != nil {
			return nil, fmt.Errorf("cloud run jobs client: %w", err)
		}
		tr = transform.NewCloudRunJob(cfg.TransformJob, jobs)
	}
	return New(cfg, Deps{Warehouse: wh, Transform: tr, Logger: logger})
}
