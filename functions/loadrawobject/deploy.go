package loadrawobject

import (
	"context"
	"fmt"
	"os"

	"cloud.google.com/go/bigquery"
	run "cloud.google.com/go/run/apiv2"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/logging"
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
	level, err := logging.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	logger := logging.New(os.Stdout, level)
	bq, err := bigquery.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("bigquery client: %w", err)
	}
	bq.Location = cfg.Location
	wh, err := bqwarehouse.New(bqwarehouse.Config{ProjectID: cfg.ProjectID, Dataset: cfg.RawDataset}, bq)
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
