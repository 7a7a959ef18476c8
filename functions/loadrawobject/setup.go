package loadrawobject

import (
	"context"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/setup"
)

// Setup is LoadRawObject's one constructor, for the cloud (ov nil) and the
// local runner alike: configuration from lookup, the warehouse (BigQuery
// unless overridden) and the transform trigger (the dbt Cloud Run job named
// by TRANSFORM_JOB unless overridden).
func Setup(ctx context.Context, lookup config.Lookup, ov *setup.Overrides) (*Function, error) {
	cfg, err := LoadConfig(lookup)
	if err != nil {
		return nil, err
	}
	logger := setup.Logger(cfg.Platform, ov)
	wh, err := setup.OpenWarehouse(ctx, cfg.Platform, ov)
	if err != nil {
		return nil, err
	}
	tr, err := setup.OpenTransform(ctx, cfg.TransformJob, logger, ov)
	if err != nil {
		return nil, err
	}
	return New(cfg, Deps{Warehouse: wh, Transform: tr, Logger: logger})
}
