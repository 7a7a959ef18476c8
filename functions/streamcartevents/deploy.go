package streamcartevents

import (
	"context"
	"os"

	"github.com/shoplake/shoplake/shared/config"
	bqwarehouse "github.com/shoplake/shoplake/shared/warehouse/bigquery"
)

// NewFromEnv builds the Function as deployed, streaming into BigQuery.
func NewFromEnv(ctx context.Context) (*Function, error) {
	cfg, err := LoadConfig(config.Env())
	if err != nil {
		return nil, err
	}
	wh, err := bqwarehouse.Open(ctx, bqwarehouse.Config{ProjectID: cfg.ProjectID, Dataset: cfg.RawDataset, Location: cfg.Location})
	if err != nil {
		return nil, err
	}
	return New(cfg, Deps{Warehouse: wh, Logger: cfg.Logger(os.Stdout)})
}
