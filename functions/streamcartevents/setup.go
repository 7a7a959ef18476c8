package streamcartevents

import (
	"context"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/setup"
)

// Setup is StreamCartEvents' one constructor, for the cloud (ov nil) and the
// local runner alike: configuration from lookup and the warehouse (BigQuery
// unless overridden).
func Setup(ctx context.Context, lookup config.Lookup, ov *setup.Overrides) (*Function, error) {
	cfg, err := LoadConfig(lookup)
	if err != nil {
		return nil, err
	}
	env := setup.New(ctx, cfg.Platform, ov)
	if wh := env.Warehouse(); wh != nil {
		return New(cfg, Deps{Warehouse: wh, Logger: env.Logger()})
	}
	return nil, env.Err()
}
