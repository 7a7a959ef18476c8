package emulation

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/functions/local/internal/names"
)

// pusher stands in for the cart-events-stream push subscription: it pulls the
// subscription (50 messages a pull: each may carry a thousand events) and
// posts each message's push body to the function, up to 16 at a time,
// redelivering it and moving it to the dead-letter topic as the
// subscription's policy would (redeliver); it acks the message once it is
// delivered or dead-lettered. It pulls with the unary Pull call: pstest's
// streaming pull hands out about one message per 10 ms.
type pusher struct {
	admin      *vkit.SubscriptionAdminClient
	deadLetter *pubsub.Publisher
	target     string
	client     *http.Client
	policy     Policy
	parallel   int

	// archive, when set, writes each pulled batch to the event archive
	// before it is delivered.
	archive func(context.Context, []*pubsubpb.PubsubMessage) error

	pushCounter
}

func newPusher(ps *PubSub, target string) *pusher {
	return &pusher{
		admin: ps.client.SubscriptionAdminClient, deadLetter: ps.client.Publisher(names.DeadLetterTopic), target: target,
		client: &http.Client{Timeout: 60 * time.Second}, policy: defaultRedelivery, parallel: 16,
	}
}

// emulatorDelivery drains the gcloud emulator's subscription with the pull
// pusher (which archives each pulled batch, see newEmulatorDelivery). The
// emulator cannot report its backlog, so a drain ends when pulls find
// nothing for idle.
type emulatorDelivery struct {
	p    *pusher
	idle time.Duration
}

// newEmulatorDelivery delivers to target, archiving each pulled batch in
// bucket as the Cloud Storage subscription would.
func newEmulatorDelivery(ps *PubSub, bucket *storage.BucketHandle, target string) *emulatorDelivery {
	p := newPusher(ps, target)
	p.archive = func(ctx context.Context, msgs []*pubsubpb.PubsubMessage) error {
		return archiveEvents(ctx, bucket, msgs)
	}
	return &emulatorDelivery{p: p, idle: 2 * time.Second}
}

func (e *emulatorDelivery) Drain(ctx context.Context) (PushStats, error) {
	before := e.p.snapshot()
	after, err := e.p.drainIdle(ctx, e.idle)
	return after.since(before), err
}

// drainIdle delivers messages until a pull finds none for idle.
func (p *pusher) drainIdle(ctx context.Context, idle time.Duration) (PushStats, error) {
	emptySince := time.Time{}
	for {
		resp, err := p.admin.Pull(ctx, &pubsubpb.PullRequest{
			Subscription: subscriptionName(names.Subscription), MaxMessages: 50, ReturnImmediately: true, //nolint:staticcheck // wanted here
		})
		if err != nil {
			return p.snapshot(), fmt.Errorf("pull %s: %w", names.Subscription, err)
		}
		msgs := resp.GetReceivedMessages()
		if len(msgs) == 0 {
			if emptySince.IsZero() {
				emptySince = time.Now()
			}
			if time.Since(emptySince) >= idle {
				return p.snapshot(), nil
			}
			time.Sleep(idle / 10)
			continue
		}
		emptySince = time.Time{}
		if p.archive != nil {
			bodies := make([]*pubsubpb.PubsubMessage, len(msgs))
			for i, m := range msgs {
				bodies[i] = m.GetMessage()
			}
			if err := p.archive(ctx, bodies); err != nil {
				return p.snapshot(), err
			}
		}
		if err := p.deliverAll(ctx, msgs); err != nil {
			return p.snapshot(), err
		}
	}
}

// deliverAll delivers one pulled batch, then acks and nacks it.
func (p *pusher) deliverAll(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) error {
	var (
		mu          sync.Mutex
		acks, nacks []string
	)
	firstErr := inParallel(p.parallel, len(msgs), func(i int) error {
		ack, err := p.handle(ctx, msgs[i].GetMessage())
		mu.Lock()
		defer mu.Unlock()
		if ack {
			acks = append(acks, msgs[i].GetAckId())
		} else {
			nacks = append(nacks, msgs[i].GetAckId())
		}
		return err
	})
	sub := subscriptionName(names.Subscription)
	if len(acks) > 0 {
		if err := p.admin.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: acks}); err != nil {
			return fmt.Errorf("acknowledge: %w", err)
		}
	}
	if len(nacks) > 0 {
		if err := p.admin.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: sub, AckIds: nacks, AckDeadlineSeconds: 0}); err != nil {
			return fmt.Errorf("nack: %w", err)
		}
	}
	return firstErr
}

// handle delivers one message (see redeliver) and reports whether to
// acknowledge it: once it is delivered or dead-lettered.
func (p *pusher) handle(ctx context.Context, m *pubsubpb.PubsubMessage) (bool, error) {
	err := redeliver(ctx, p.policy, p.client, p.target, m, &p.pushCounter,
		func(dl *pubsubpb.PubsubMessage) error {
			_, err := p.deadLetter.Publish(ctx, &pubsub.Message{Data: dl.GetData(), Attributes: dl.GetAttributes()}).Get(ctx)
			return err
		})
	return err == nil, err
}
