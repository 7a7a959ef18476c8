package main

import (
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/shoplake/shoplake/shared/events"
)

// Local names of the Pub/Sub resources, as Terraform names them in the cloud.
const (
	Topic                  = "cart-events"
	Subscription           = "cart-events-stream"
	DeadLetterTopic        = "cart-events-dead-letter"
	DeadLetterSubscription = "cart-events-dead-letter-hold"
)

// localPubSub is the Pub/Sub the runner uses: pstest in-process, with the
// cart-events backlog kept on disk under dir (see diskQueue), or the emulator
// named by PUBSUB_EMULATOR_HOST (a process of its own, so its backlog
// outlives the runner too).
type localPubSub struct {
	client   *pubsub.Client
	server   *pstest.Server
	Emulator string // host:port of the external emulator, if any
	// queue and deadLetter are the disk backlogs of cart-events-stream and
	// of the dead-letter hold subscription, in pstest mode.
	queue, deadLetter *diskQueue
}

func startPubSub(ctx context.Context, emulatorHost, dir string) (*localPubSub, error) {
	ps := &localPubSub{Emulator: emulatorHost}
	if emulatorHost == "" {
		var err error
		if ps.queue, err = openDiskQueue(filepath.Join(dir, Subscription)); err != nil {
			return nil, err
		}
		if ps.deadLetter, err = openDiskQueue(filepath.Join(dir, DeadLetterSubscription)); err != nil {
			ps.close()
			return nil, err
		}
		ps.server = pstest.NewServer(pstest.ServerReactorOption{
			FuncName: "Publish",
			Reactor:  queueReactor{topics: map[string]*diskQueue{topicName(Topic): ps.queue, topicName(DeadLetterTopic): ps.deadLetter}},
		})
		emulatorHost = ps.server.Addr
	}
	// The client finds the stand-in through its usual emulator setting.
	os.Setenv("PUBSUB_EMULATOR_HOST", emulatorHost)
	client, err := pubsub.NewClient(ctx, ProjectID)
	if err != nil {
		ps.close()
		return nil, fmt.Errorf("pubsub client for %s: %w", emulatorHost, err)
	}
	ps.client = client
	for _, t := range []string{Topic, DeadLetterTopic} {
		_, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName(t)})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			ps.close()
			return nil, fmt.Errorf("create topic %s on %s (is the emulator running?): %w", t, emulatorHost, err)
		}
	}
	for sub, topic := range map[string]string{Subscription: Topic, DeadLetterSubscription: DeadLetterTopic} {
		_, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: subscriptionName(sub), Topic: topicName(topic), AckDeadlineSeconds: 60,
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			ps.close()
			return nil, fmt.Errorf("create subscription %s: %w", sub, err)
		}
	}
	return ps, nil
}

func (ps *localPubSub) close() {
	if ps.client != nil {
		ps.client.Close()
	}
	if ps.server != nil {
		ps.server.Close()
	}
	for _, q := range []*diskQueue{ps.queue, ps.deadLetter} {
		if q != nil {
			q.close()
		}
	}
}

func topicName(id string) string        { return "projects/" + ProjectID + "/topics/" + id }
func subscriptionName(id string) string { return "projects/" + ProjectID + "/subscriptions/" + id }

// PushStats counts what the pusher did.
type PushStats struct {
	Delivered    int64 `json:"delivered"`
	Acked        int64 `json:"acked"`
	Nacked       int64 `json:"nacked"`
	DeadLettered int64 `json:"dead_lettered"`
}

// pusher stands in for the cart-events-stream push subscription: it pulls the
// subscription and posts each message's push body to the function, up to 100
// at a time (like one instance's concurrency); it acks on
// 2xx and nacks otherwise (after a backoff), and after maxDeliveries failed
// deliveries moves the message to the dead-letter topic, as a subscription's
// dead-letter policy would. It pulls with the unary Pull call: pstest's
// streaming pull hands out about one message per 10 ms.
type pusher struct {
	admin         *vkit.SubscriptionAdminClient
	deadLetter    *pubsub.Publisher
	target        string
	client        *http.Client
	maxDeliveries int
	backoff       time.Duration
	parallel      int

	// archive, when set, writes each pulled batch to the event archive
	// before it is delivered.
	archive func(context.Context, []*pubsubpb.ReceivedMessage) error

	mu       sync.Mutex
	attempts map[string]int
	stats    PushStats
}

func newPusher(ps *localPubSub, target string) *pusher {
	return &pusher{
		admin: ps.client.SubscriptionAdminClient, deadLetter: ps.client.Publisher(DeadLetterTopic), target: target,
		client: &http.Client{Timeout: 60 * time.Second}, maxDeliveries: 5, backoff: 100 * time.Millisecond,
		parallel: 100, attempts: map[string]int{},
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
func newEmulatorDelivery(ps *localPubSub, bucket *storage.BucketHandle, target string) *emulatorDelivery {
	p := newPusher(ps, target)
	p.archive = func(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) error {
		datas := make([][]byte, len(msgs))
		for i, m := range msgs {
			datas[i] = m.GetMessage().GetData()
		}
		return archiveEvents(ctx, bucket, msgs[0].GetMessage().GetPublishTime().AsTime(), msgs[0].GetMessage().GetMessageId(), datas)
	}
	return &emulatorDelivery{p: p, idle: 2 * time.Second}
}

func (e *emulatorDelivery) drain(ctx context.Context) (PushStats, error) {
	before := e.p.snapshot()
	after, err := e.p.drainIdle(ctx, e.idle)
	return PushStats{
		Delivered: after.Delivered - before.Delivered, Acked: after.Acked - before.Acked,
		Nacked: after.Nacked - before.Nacked, DeadLettered: after.DeadLettered - before.DeadLettered,
	}, err
}

// drainIdle delivers messages until a pull finds none for idle.
func (p *pusher) drainIdle(ctx context.Context, idle time.Duration) (PushStats, error) {
	emptySince := time.Time{}
	for {
		resp, err := p.admin.Pull(ctx, &pubsubpb.PullRequest{
			Subscription: subscriptionName(Subscription), MaxMessages: 500, ReturnImmediately: true, //nolint:staticcheck // wanted here
		})
		if err != nil {
			return p.snapshot(), fmt.Errorf("pull %s: %w", Subscription, err)
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
			if err := p.archive(ctx, msgs); err != nil {
				return p.snapshot(), err
			}
		}
		if err := p.deliverAll(ctx, msgs); err != nil {
			return p.snapshot(), err
		}
	}
}

func (p *pusher) snapshot() PushStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// deliverAll delivers one pulled batch, then acks and nacks it.
func (p *pusher) deliverAll(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) error {
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		acks, nacks []string
		firstErr    error
	)
	sem := make(chan struct{}, p.parallel)
	for _, rm := range msgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ack, err := p.handle(ctx, rm.GetMessage())
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if ack {
				acks = append(acks, rm.GetAckId())
			} else {
				nacks = append(nacks, rm.GetAckId())
			}
		}()
	}
	wg.Wait()
	sub := subscriptionName(Subscription)
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

// handle delivers one message and reports whether to acknowledge it.
func (p *pusher) handle(ctx context.Context, m *pubsubpb.PubsubMessage) (bool, error) {
	code, err := p.post(ctx, m)
	p.mu.Lock()
	p.stats.Delivered++
	if err == nil && code >= 200 && code < 300 {
		p.stats.Acked++
		delete(p.attempts, m.GetMessageId())
		p.mu.Unlock()
		return true, nil
	}
	p.attempts[m.GetMessageId()]++
	n := p.attempts[m.GetMessageId()]
	p.mu.Unlock()
	if n >= p.maxDeliveries {
		attrs := map[string]string{"dead_letter_source": Subscription, "delivery_attempts": fmt.Sprint(n)}
		for k, v := range m.GetAttributes() {
			attrs[k] = v
		}
		if _, err := p.deadLetter.Publish(ctx, &pubsub.Message{Data: m.GetData(), Attributes: attrs}).Get(ctx); err != nil {
			return false, fmt.Errorf("dead-letter message %s: %w", m.GetMessageId(), err)
		}
		p.mu.Lock()
		p.stats.DeadLettered++
		p.mu.Unlock()
		return true, nil
	}
	p.mu.Lock()
	p.stats.Nacked++
	p.mu.Unlock()
	select { // Pub/Sub's retry policy waits before redelivering
	case <-time.After(min(p.backoff<<min(n-1, 5), 2*time.Second)):
	case <-ctx.Done():
	}
	return false, nil
}

// post delivers one message as the deployed push subscription does: the
// push body alone, with no CloudEvent headers.
func (p *pusher) post(ctx context.Context, m *pubsubpb.PubsubMessage) (int, error) {
	published := m.GetPublishTime().AsTime()
	body, err := json.Marshal(events.PushRequest{
		Message:      events.PushMessage{Data: m.GetData(), Attributes: m.GetAttributes(), MessageID: m.GetMessageId(), PublishTime: published},
		Subscription: subscriptionName(Subscription),
	})
	if err != nil {
		return 0, err
	}
	return postJSON(ctx, p.client, p.target, nil, body)
}
