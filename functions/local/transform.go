package main

import (
	"context"
	"log/slog"
	"sync"
)

// deferredTransform is the local transform trigger that LoadRawObject is
// given instead of the Cloud Run job: it records that transforms were asked
// for, and the runner runs dbt once after the loads of a burst have settled
// (never two at once, and with the warehouse file released while dbt runs).
type deferredTransform struct {
	logger *slog.Logger

	mu      sync.Mutex
	reasons []string
}

// Start records the request.
func (d *deferredTransform) Start(ctx context.Context, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons = append(d.reasons, reason)
	d.logger.InfoContext(ctx, "transforms requested; the local runner runs dbt once the loads settle", "reason", reason)
	return nil
}

// Take returns the reasons recorded since the last call and forgets them.
func (d *deferredTransform) Take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.reasons
	d.reasons = nil
	return r
}
