package pollcarts

import (
	"context"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/setup"
	"github.com/shoplake/shoplake/shared/state"
)

// Setup is PollCarts' one constructor, for the cloud (ov nil) and the local
// runner alike: configuration from lookup, the store SOURCE_KIND names (its
// credentials from Secret Manager when configured), the state and rejects in the lake, a
// Pub/Sub publisher, and the warehouse for pipeline runs (BigQuery unless
// overridden).
func Setup(ctx context.Context, lookup config.Lookup, ov *setup.Overrides) (*Function, error) {
	return setup.Build(ctx, lookup, ov, LoadConfig, func(cfg Config, env *setup.Env) (*Function, error) {
		deps := Deps{Lake: env.Lake(), Runs: env.Warehouse(), Logger: env.Logger()}
		if src := env.Store(cfg.Source); src != nil {
			deps.Source, deps.Store = src.Client, src.Store
		}
		bucket, ps := env.RawBucket(), env.PubSub()
		if env.Err() != nil {
			return nil, env.Err()
		}
		deps.Cursors = func(object string) CursorStore { return state.NewCursorStore(bucket, object) }
		store := state.NewStore(bucket, cfg.StateObject)
		store.Recovered = func(unreadable, used int64, err error) {
			deps.Logger.Error("cart state unreadable: polling against an earlier generation, which this poll replaces",
				"object", cfg.StateObject, "unreadable_generation", unreadable, "used_generation", used, "error", err.Error())
		}
		deps.State, deps.Publisher = store, events.NewPublisher(ps, cfg.Topic)
		return New(cfg, deps)
	})
}
