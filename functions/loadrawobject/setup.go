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
	return setup.Build(ctx, lookup, ov, LoadConfig, func(cfg Config, env *setup.Env) (*Function, error) {
		return New(cfg, Deps{Warehouse: env.Warehouse(), Transform: env.Transform(cfg.TransformJob), Logger: env.Logger()})
	})
}
