package emulation

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/functions/local/internal/progress"
	"github.com/shoplake/shoplake/functions/local/internal/queue"
	"github.com/shoplake/shoplake/shared/lake"
)

// queueReactor answers pstest's Publish calls on the cart-events topic from
// the disk queue: messages are appended and fsynced, then acknowledged to
// the publisher, and pstest keeps none of them in memory. Other topics are
// left to pstest.
type queueReactor struct {
	topics map[string]*queue.Queue // full topic name → its subscription's queue
}

// React implements pstest.Reactor.
func (r queueReactor) React(req any) (bool, any, error) {
	p, ok := req.(*pubsubpb.PublishRequest)
	if !ok {
		return false, nil, nil
	}
	q := r.topics[p.GetTopic()]
	if q == nil {
		return false, nil, nil
	}
	ids, err := q.Publish(p.GetMessages(), time.Now())
	if err != nil {
		return true, nil, err
	}
	return true, &pubsubpb.PublishResponse{MessageIds: ids}, nil
}

// queuePusher stands in for the two subscriptions on cart-events, reading
// the disk queue a window at a time: the Cloud Storage subscription (every
// message archived under raw/cart_events/ before it is delivered) and the
// push subscription cart-events-stream (each message POSTed as a push body,
// redelivered and dead-lettered as the subscription's policy says: redeliver).
// A window is settled on disk only once every message in it is acknowledged
// or dead-lettered, so a runner killed mid-window redelivers it.
type queuePusher struct {
	queue, deadLetter *queue.Queue
	bucket            *storage.BucketHandle
	target            string
	client            *http.Client
	policy            Policy
	parallel          int
	// window bounds the messages read, archived and delivered at a time:
	// at most windowMessages, and no more than windowBytes of data.
	windowMessages, windowBytes int
	out                         io.Writer
	progressEvery               time.Duration

	pushCounter
}

func newQueuePusher(q, deadLetter *queue.Queue, bucket *storage.BucketHandle, target string, out io.Writer) *queuePusher {
	return &queuePusher{
		queue: q, deadLetter: deadLetter, bucket: bucket, target: target,
		client: &http.Client{Timeout: 60 * time.Second}, policy: defaultRedelivery,
		parallel: 6, windowMessages: 2000, windowBytes: 8 << 20, out: out, progressEvery: 5 * time.Second,
	}
}

// drain delivers the whole backlog and returns what this call did. It ends
// when every message is acknowledged or dead-lettered, or with an error (the
// unsettled window is delivered again by the next drain).
func (p *queuePusher) Drain(ctx context.Context) (PushStats, error) {
	return p.Follow(ctx, nil)
}

// follow delivers the backlog as it grows, while a poll publishes into it,
// until done is closed; then it delivers what is left and returns what it
// did. A nil done delivers the backlog there is (drain).
func (p *queuePusher) Follow(ctx context.Context, done <-chan struct{}) (PushStats, error) {
	p.count(func(s *PushStats) { *s = PushStats{} })
	backlog, err := p.queue.Pending()
	if err != nil {
		return PushStats{}, err
	}
	cur, err := p.queue.Cursor()
	if err != nil {
		return PushStats{}, err
	}
	// While a poll publishes, the total is not known yet: progress shows
	// counts and rate, then the time left once the poll is done.
	published := p.queue.Published()
	polled := done // the loop below clears done once it has seen it closed
	total := func() int64 {
		if polled != nil {
			select {
			case <-polled:
			default:
				return 0 // the poll still publishes
			}
		}
		return backlog + p.queue.Published() - published
	}
	stop := p.progress(done != nil || backlog > 0, total)
	defer stop()
	for {
		msgs, err := p.queue.Read(cur, p.windowMessages, p.windowBytes)
		if err != nil {
			return p.snapshot(), err
		}
		if len(msgs) == 0 {
			if done == nil {
				return p.snapshot(), nil
			}
			select {
			case <-done: // read once more: the poll's last publishes
				done = nil
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return p.snapshot(), ctx.Err()
			}
			continue
		}
		if err := p.archive(ctx, msgs); err != nil {
			return p.snapshot(), err
		}
		if err := p.deliverWindow(ctx, msgs); err != nil {
			return p.snapshot(), err
		}
		cur = msgs[len(msgs)-1].Next
		if err := p.queue.Settle(cur); err != nil {
			return p.snapshot(), err
		}
	}
}

// progress prints delivered counts of the events published so far, rate
// and time left until stopped.
func (p *queuePusher) progress(show bool, total func() int64) func() {
	if !show {
		return func() {}
	}
	return progress.Every(p.out, p.progressEvery, "delivered", "events",
		func() int64 { return p.snapshot().Events }, total)
}

// archive writes the window to the event archive, named by its first
// message, so an archive written again after a crash replaces the same
// object.
func (p *queuePusher) archive(ctx context.Context, msgs []queue.Message) error {
	bodies := make([]*pubsubpb.PubsubMessage, len(msgs))
	for i, m := range msgs {
		bodies[i] = m.Msg
	}
	return archiveEvents(ctx, p.bucket, bodies)
}

// archiveEvents writes the bodies of msgs, one a line, to the object the
// Cloud Storage subscription (text format) would start with the first of
// them: raw/cart_events/dt=<day>/<hh_mm_ss>Z_<message id>.jsonl. The bodies
// are streamed to the object in one request, not gathered first.
func archiveEvents(ctx context.Context, bucket *storage.BucketHandle, msgs []*pubsubpb.PubsubMessage) error {
	name := lake.CartEventsArchiveName(msgs[0].GetPublishTime().AsTime(), msgs[0].GetMessageId())
	w := bucket.Object(name).NewWriter(ctx)
	w.ContentType = "application/x-ndjson"
	w.ChunkSize = 0 // one request, no buffer
	for _, m := range msgs {
		if _, err := w.Write(bytes.TrimRight(m.GetData(), "\n")); err != nil {
			w.Close()
			return fmt.Errorf("archive events to %s: %w", name, err)
		}
		if _, err := w.Write(newline); err != nil {
			w.Close()
			return fmt.Errorf("archive events to %s: %w", name, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("archive events to %s: %w", name, err)
	}
	return nil
}

var newline = []byte("\n")

// deliverWindow delivers every message of a window, up to parallel at once.
func (p *queuePusher) deliverWindow(ctx context.Context, msgs []queue.Message) error {
	return inParallel(p.parallel, len(msgs), func(i int) error { return p.deliver(ctx, msgs[i].Msg) })
}

// deliver delivers one message (see redeliver), dead-lettering it to the
// disk queue of the dead-letter topic.
func (p *queuePusher) deliver(ctx context.Context, m *pubsubpb.PubsubMessage) error {
	return redeliver(ctx, p.policy, p.client, p.target, m, &p.pushCounter,
		func(dl *pubsubpb.PubsubMessage) error {
			_, err := p.deadLetter.Publish([]*pubsubpb.PubsubMessage{dl}, time.Now())
			return err
		})
}
