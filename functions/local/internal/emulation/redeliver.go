// Package emulation stands in for Google Cloud's delivery services in the
// local wing: Pub/Sub, in-process (pstest, its backlog in a disk queue) or
// the gcloud emulator, with the push subscription's delivery to
// StreamCartEvents and its dead-lettering (PubSub, Deliverer); Eventarc's
// Cloud Storage trigger and its CloudEvent POST (Eventarc); and the one
// redelivery routine both follow (Policy.Deliver).
package emulation

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Policy is a delivery service's retry policy: at most Attempts deliveries
// of a message, the first redelivery Backoff after the failure, each later
// one twice as long, at most MaxBackoff (0: no bound).
type Policy struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// ErrExhausted marks a message every attempt of a policy failed to deliver:
// the caller dead-letters it, or gives up on it.
var ErrExhausted = errors.New("every delivery attempt failed")

// Delay is how long the policy waits after the failed attempt (from 1).
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Backoff
	for i := 1; i < attempt && d <= math.MaxInt64/2; i++ {
		if p.MaxBackoff > 0 && d >= p.MaxBackoff {
			break
		}
		d *= 2
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return d
}

// Deliver calls try, with the attempt's number from 1, until it returns
// nil or the policy's attempts are spent, waiting Delay between attempts.
// It returns how many attempts it made and nil once one succeeded; an error
// wrapping ErrExhausted and the last attempt's error when none did; or
// ctx's error as soon as ctx ends, during an attempt or a wait, whatever
// the attempt said.
func (p Policy) Deliver(ctx context.Context, try func(ctx context.Context, attempt int) error) (int, error) {
	attempts := max(p.Attempts, 1)
	for attempt := 1; ; attempt++ {
		err := try(ctx, attempt)
		if err == nil {
			return attempt, nil
		}
		if ctx.Err() != nil {
			return attempt, ctx.Err()
		}
		if attempt >= attempts {
			return attempt, fmt.Errorf("%w: gave up after %d attempts, last: %w", ErrExhausted, attempt, err)
		}
		select {
		case <-time.After(p.Delay(attempt)):
		case <-ctx.Done():
			return attempt, ctx.Err()
		}
	}
}
