package ingestbatch

import (
	"context"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/setup"
	"github.com/shoplake/shoplake/shared/source"
)

// Setup is IngestBatch's one constructor, for the cloud (ov nil) and the
// local runner alike: configuration from lookup, the source API key from
// Secret Manager when configured, the lake on Cloud Storage, and the
// warehouse for pipeline runs (BigQuery unless overridden).
func Setup(ctx context.Context, lookup config.Lookup, ov *setup.Overrides) (*Function, error) {
	cfg, err := LoadConfig(lookup)
	if err != nil {
		return nil, err
	}
	src, err := source.Open(ctx, cfg.Source, cfg.APIKeySecret)
	if err != nil {
		return nil, err
	}
	_, lw, err := setup.OpenLake(ctx, cfg.Platform)
	if err != nil {
		return nil, err
	}
	wh, err := setup.OpenWarehouse(ctx, cfg.Platform, ov)
	if err != nil {
		return nil, err
	}
	return New(cfg, Deps{Source: src, Lake: lw, Runs: wh, Logger: setup.Logger(cfg.Platform, ov)})
}
