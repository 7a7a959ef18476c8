package ingestbatch

import (
	"context"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/setup"
	"github.com/shoplake/shoplake/shared/source/connect"
)

// Setup is IngestBatch's one constructor, for the cloud (ov nil) and the
// local runner alike: configuration from lookup, the store SOURCE_KIND names
// (its credentials from Secret Manager when configured), the pseudonymisation key, the lake, and the warehouse for pipeline
// runs (BigQuery unless overridden).
func Setup(ctx context.Context, lookup config.Lookup, ov *setup.Overrides) (*Function, error) {
	return setup.Build(ctx, lookup, ov, LoadConfig, func(cfg Config, env *setup.Env) (*Function, error) {
		deps := Deps{Key: env.Pseudonym(cfg.Pseudonym), Lake: env.Lake(), Runs: env.Warehouse(), Logger: env.Logger()}
		if src := env.Store(cfg.Source); src != nil {
			deps.Source = src.Client
			if connect.Canonical(src.Kind) {
				deps.Store = src.Store
			}
		}
		return New(cfg, deps)
	})
}
