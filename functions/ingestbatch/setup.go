package ingestbatch

import (
	"context"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/setup"
)

// Setup is IngestBatch's one constructor, for the cloud (ov nil) and the
// local runner alike: configuration from lookup, the source (its API key from
// Secret Manager when configured), the pseudonymisation key, the lake, and the warehouse for pipeline
// runs (BigQuery unless overridden).
func Setup(ctx context.Context, lookup config.Lookup, ov *setup.Overrides) (*Function, error) {
	return setup.Build(ctx, lookup, ov, LoadConfig, func(cfg Config, env *setup.Env) (*Function, error) {
		return New(cfg, Deps{Source: env.Source(cfg.Source), Key: env.Pseudonym(cfg.Pseudonym), Lake: env.Lake(), Runs: env.Warehouse(), Logger: env.Logger()})
	})
}
