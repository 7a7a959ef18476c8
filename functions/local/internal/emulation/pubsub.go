package emulation

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"cloud.google.com/go/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/queue"
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

// StartPubSub starts Pub/Sub: the gcloud emulator at emulatorHost when it
// is set, else pstest in-process with the stream's and the dead-letter
// hold's backlogs kept on disk under dir. It creates the topics and
// subscriptions as Terraform names them, and points PUBSUB_EMULATOR_HOST at
// the stand-in for the functions' clients.
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

// Close closes the client, the in-process server and the backlogs.
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
