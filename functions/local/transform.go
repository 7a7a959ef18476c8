package main

import (
	"context"
	"log/slog"
)

// deferredTransform is the local transform trigger that LoadRawObject is
// given instead of the Cloud Run job. It only logs the request: the runner
// decides after the loads of a burst have settled whether dbt must run, from
// the raw tables and the last build's outcome (see stack.transforms), and
// runs it once, with the warehouse file released.
type deferredTransform struct {
	logger *slog.Logger
}

// Start logs the request.
func (d deferredTransform) Start(ctx context.Context, reason string) error {
	d.logger.InfoContext(ctx, "transforms requested; the local runner runs dbt once the loads settle", "reason", reason)
	return nil
}
