package emulation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/queue"
	"github.com/shoplake/shoplake/shared/events"
)

// PushStats counts what the pusher did. Delivered, Acked, Nacked and
// DeadLettered count messages (push requests); Events counts the cart
// events of the messages that are done.
type PushStats struct {
	Delivered    int64 `json:"delivered"`
	Acked        int64 `json:"acked"`
	Nacked       int64 `json:"nacked"`
	DeadLettered int64 `json:"dead_lettered"`
	// Events counts the events in the messages acknowledged or
	// dead-lettered.
	Events int64 `json:"events"`
}

// since is what was counted after before.
func (s PushStats) since(before PushStats) PushStats {
	return PushStats{
		Delivered: s.Delivered - before.Delivered, Acked: s.Acked - before.Acked,
		Nacked: s.Nacked - before.Nacked, DeadLettered: s.DeadLettered - before.DeadLettered,
		Events: s.Events - before.Events,
	}
}

// String says what a delivery did, in one line of the run's output.
func (s PushStats) String() string {
	messages := "messages"
	if s.Acked+s.DeadLettered == 1 {
		messages = "message"
	}
	return fmt.Sprintf("%d events in %d %s: delivered %d, acknowledged %d, redelivered %d, dead-lettered %d",
		s.Events, s.Acked+s.DeadLettered, messages, s.Delivered, s.Acked, s.Nacked, s.DeadLettered)
}

// pushCounter is the PushStats of a pusher, safe for its concurrent
// deliveries.
type pushCounter struct {
	mu    sync.Mutex
	stats PushStats
}

func (c *pushCounter) count(fn func(*PushStats)) {
	c.mu.Lock()
	fn(&c.stats)
	c.mu.Unlock()
}

// acked counts m as acknowledged, with the cart events it carries.
func (c *pushCounter) acked(m *pubsubpb.PubsubMessage) {
	c.count(func(s *PushStats) { s.Acked++; s.Events += queue.EventCount(m) })
}

// deadLettered counts m as dead-lettered, with the cart events it carries.
func (c *pushCounter) deadLettered(m *pubsubpb.PubsubMessage) {
	c.count(func(s *PushStats) { s.DeadLettered++; s.Events += queue.EventCount(m) })
}

func (c *pushCounter) snapshot() PushStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// What both pushers share with the deployed push subscription.

// pushBody is the body the deployed push subscription posts for m: the push
// envelope alone, with no CloudEvent headers.
func pushBody(m *pubsubpb.PubsubMessage) ([]byte, error) {
	return json.Marshal(events.PushRequest{
		Message: events.PushMessage{
			Data: m.GetData(), Attributes: m.GetAttributes(), MessageID: m.GetMessageId(), PublishTime: m.GetPublishTime().AsTime(),
		},
		Subscription: subscriptionName(names.Subscription),
	})
}

// deadLetterAttributes are m's attributes plus where it came from and after
// how many delivery attempts, as a dead-lettered message carries them.
func deadLetterAttributes(m *pubsubpb.PubsubMessage, attempts int) map[string]string {
	attrs := map[string]string{"dead_letter_source": names.Subscription, "delivery_attempts": fmt.Sprint(attempts), "message_id": m.GetMessageId()}
	for k, v := range m.GetAttributes() {
		attrs[k] = v
	}
	return attrs
}

// inParallel calls fn(0) … fn(n-1), at most limit at once, and returns the
// first error.
func inParallel(limit, n int, fn func(i int) error) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, limit)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// defaultRedelivery is the cart-events-stream subscription's policy, which
// both pushers follow: five deliveries (its dead-letter policy), 100 ms
// doubling between them, at most 2 s, then the dead-letter topic.
var defaultRedelivery = Policy{Attempts: 5, Backoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}

// redeliver posts m's push body to target until a delivery is acknowledged
// (2xx) or, once the policy's deliveries all failed, hands the message to
// deadLetter with its delivery count (Policy.Deliver: the one
// routine Eventarc's delivery follows too). It stops at once, with ctx's
// error, when ctx ends. Counts are kept in c. It returns nil once the
// message is delivered or dead-lettered.
func redeliver(ctx context.Context, policy Policy, client *http.Client, target string, m *pubsubpb.PubsubMessage,
	c *pushCounter, deadLetter func(*pubsubpb.PubsubMessage) error) error {
	body, err := pushBody(m)
	if err != nil {
		return err
	}
	attempts, err := policy.Deliver(ctx, func(ctx context.Context, attempt int) error {
		if attempt > 1 {
			c.count(func(s *PushStats) { s.Nacked++ }) // the last one was nacked, and this redelivers it
		}
		code, err := postJSON(ctx, client, target, nil, body)
		c.count(func(s *PushStats) { s.Delivered++ })
		if err == nil && (code < 200 || code >= 300) {
			err = fmt.Errorf("HTTP %d", code)
		}
		return err
	})
	switch {
	case err == nil:
		c.acked(m)
		return nil
	case errors.Is(err, ErrExhausted):
		dl := &pubsubpb.PubsubMessage{Data: m.GetData(), Attributes: deadLetterAttributes(m, attempts)}
		if err := deadLetter(dl); err != nil {
			return fmt.Errorf("dead-letter message %s: %w", m.GetMessageId(), err)
		}
		c.deadLettered(m)
		return nil
	}
	return err
}
