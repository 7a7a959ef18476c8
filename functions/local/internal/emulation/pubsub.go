package emulation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"cloud.google.com/go/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/queue"
	"github.com/shoplake/shoplake/shared/events"
)

// PubSub is the Pub/Sub the runner uses: pstest in-process, with the
// cart-events backlog kept on disk under dir (see queue.Queue), or the emulator
// named by PUBSUB_EMULATOR_HOST (a process of its own, so its backlog
// outlives the runner too).
type PubSub struct {
	client   *pubsub.Client
	server   *pstest.Server
	Emulator string // host:port of the external emulator, if any
	// queue and deadLetter are the disk backlogs of cart-events-stream and
	// of the dead-letter hold subscription, in pstest mode.
	queue, deadLetter *queue.Queue
}

func StartPubSub(ctx context.Context, emulatorHost, dir string) (*PubSub, error) {
	ps := &PubSub{Emulator: emulatorHost}
	if emulatorHost == "" {
		var err error
		if ps.queue, err = queue.Open(filepath.Join(dir, names.Subscription)); err != nil {
			return nil, err
		}
		if ps.deadLetter, err = queue.Open(filepath.Join(dir, names.DeadLetterSubscription)); err != nil {
			ps.Close()
			return nil, err
		}
		ps.server = pstest.NewServer(pstest.ServerReactorOption{
			FuncName: "Publish",
			Reactor:  queueReactor{topics: map[string]*queue.Queue{topicName(names.Topic): ps.queue, topicName(names.DeadLetterTopic): ps.deadLetter}},
		})
		emulatorHost = ps.server.Addr
	}
	// The client finds the stand-in through its usual emulator setting.
	os.Setenv("PUBSUB_EMULATOR_HOST", emulatorHost)
	client, err := pubsub.NewClient(ctx, names.ProjectID)
	if err != nil {
		ps.Close()
		return nil, fmt.Errorf("pubsub client for %s: %w", emulatorHost, err)
	}
	ps.client = client
	for _, t := range []string{names.Topic, names.DeadLetterTopic} {
		_, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName(t)})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			ps.Close()
			return nil, fmt.Errorf("create topic %s on %s (is the emulator running?): %w", t, emulatorHost, err)
		}
	}
	for sub, topic := range map[string]string{names.Subscription: names.Topic, names.DeadLetterSubscription: names.DeadLetterTopic} {
		_, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: subscriptionName(sub), Topic: topicName(topic), AckDeadlineSeconds: 60,
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			ps.Close()
			return nil, fmt.Errorf("create subscription %s: %w", sub, err)
		}
	}
	return ps, nil
}

func (ps *PubSub) Close() {
	if ps.client != nil {
		ps.client.Close()
	}
	if ps.server != nil {
		ps.server.Close()
	}
	for _, q := range []*queue.Queue{ps.queue, ps.deadLetter} {
		if q != nil {
			q.Close()
		}
	}
}

func topicName(id string) string { return "projects/" + names.ProjectID + "/topics/" + id }
func subscriptionName(id string) string {
	return "projects/" + names.ProjectID + "/subscriptions/" + id
}

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

// Deliverer stands in for the subscriptions on cart-events: Drain delivers
// the whole backlog and reports what it did.
type Deliverer interface {
	Drain(ctx context.Context) (PushStats, error)
}

// Follower is a Deliverer that can deliver while a poll publishes, as the
// push subscription does in the cloud.
type Follower interface {
	Follow(ctx context.Context, done <-chan struct{}) (PushStats, error)
}

// Deliverer returns the push subscription's delivery to target: the
// disk-backed one, which follows a poll as it publishes, in pstest mode
// (printing progress on out every progressEvery, default 5 s); else the
// pull-based one for the gcloud emulator. Delivered events are archived
// in bucket.
func (ps *PubSub) Deliverer(bucket *storage.BucketHandle, target string, out io.Writer, progressEvery time.Duration) Deliverer {
	if ps.queue != nil {
		p := newQueuePusher(ps.queue, ps.deadLetter, bucket, target, out)
		if progressEvery > 0 {
			p.progressEvery = progressEvery
		}
		return p
	}
	return newEmulatorDelivery(ps, bucket, target)
}

// HasBacklog reports whether events an interrupted run published wait
// for delivery (in pstest mode; the gcloud emulator keeps its own).
func (ps *PubSub) HasBacklog() (bool, error) {
	if ps.queue == nil {
		return false, nil
	}
	return ps.queue.HasPending()
}
