package ingestbatch

import (
	"context"
	"fmt"
	"os"

	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/source"
	bqwarehouse "github.com/shoplake/shoplake/shared/warehouse/bigquery"
)

// NewFromEnv builds the Function as deployed: configuration from the process
// environment, Cloud Storage and BigQuery clients with the runtime's
// credentials, and the source API key from Secret Manager when configured.
func NewFromEnv(ctx context.Context) (*Function, error) {
	cfg, err := LoadConfig(config.Env())
	if err != nil {
		return nil, err
	}
	src, err := source.Open(ctx, cfg.Source, cfg.APIKeySecret)
	if err != nil {
		return nil, err
	}
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	lw, err := lake.NewWriter(lake.Config{Bucket: cfg.RawBucket}, gcs)
	if err != nil {
		return nil, err
	}
	wh, err := bqwarehouse.Open(ctx, bqwarehouse.Config{ProjectID: cfg.ProjectID, Dataset: cfg.RawDataset, Location: cfg.Location})
	if err != nil {
		return nil, err
	}
	return New(cfg, Deps{Source: src, Lake: lw, Runs: wh, Logger: cfg.Logger(os.Stdout)})
}
