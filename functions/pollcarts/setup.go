package pollcarts

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/setup"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/state"
)

// Setup is PollCarts' one constructor, for the cloud (ov nil) and the local
// runner alike: configuration from lookup, the source API key from Secret
// Manager when configured, the state and rejects on Cloud Storage, a Pub/Sub
// publisher, and the warehouse for pipeline runs (BigQuery unless
// overridden).
func Setup(ctx context.Context, lookup config.Lookup, ov *setup.Overrides) (*Function, error) {
	cfg, err := LoadConfig(lookup)
	if err != nil {
		return nil, err
	}
	src, err := source.Open(ctx, cfg.Source, cfg.APIKeySecret)
	if err != nil {
		return nil, err
	}
	gcs, lw, err := setup.OpenLake(ctx, cfg.Platform)
	if err != nil {
		return nil, err
	}
	ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("pubsub client: %w", err)
	}
	wh, err := setup.OpenWarehouse(ctx, cfg.Platform, ov)
	if err != nil {
		return nil, err
	}
	return New(cfg, Deps{
		Source: src, State: state.NewStore(gcs.Bucket(cfg.RawBucket), cfg.StateObject),
		Publisher: events.NewPublisher(ps, cfg.Topic), Lake: lw, Runs: wh,
		Logger: setup.Logger(cfg.Platform, ov),
	})
}
