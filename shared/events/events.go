// Package events is the Pub/Sub contract of cart events: how PollCarts
// publishes model.CartEvents, packed many to a message (one JSON event a
// line; schema_version and event_count attributes), and how
// StreamCartEvents reads them back from the body of a Pub/Sub push request.
// Messages of the earlier one-event shape (one JSON event; event_id,
// event_type and schema_version attributes) are still read.
//
// A batch's data has no trailing newline, so the Cloud Storage
// subscription, which writes each message's data followed by a newline,
// archives exactly one event a line.
package events

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/shoplake/shoplake/shared/model"
)

// Message attribute names.
const (
	AttrEventID       = "event_id"
	AttrEventType     = "event_type"
	AttrSchemaVersion = "schema_version"
	// AttrEventCount marks a batch message and says how many events (lines)
	// its data holds.
	AttrEventCount = "event_count"
)

// Batch bounds. A batch closes at MaxBatchEvents events or before its data
// passes MaxBatchBytes, whichever comes first: far below Pub/Sub's 10 MB
// message limit, so that a push body (data base64-encoded, 4/3 of it) and
// one Storage Write API append (10 MB per request) always fit, and one
// invocation's memory stays small.
const (
	MaxBatchEvents = 1000
	MaxBatchBytes  = 1 << 20
)

// NewMessage encodes ev as a message of the one-event shape, which
// StreamCartEvents still accepts (PollCarts publishes batches).
func NewMessage(ev model.CartEvent) (*pubsub.Message, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.EventID, err)
	}
	return &pubsub.Message{Data: data, Attributes: map[string]string{
		AttrEventID: ev.EventID, AttrEventType: ev.EventType, AttrSchemaVersion: model.CartEventSchemaVersion,
	}}, nil
}

// Batch is the data of one batch message being built: events encoded one a
// line.
type Batch struct {
	data []byte
	n    int
}

// ErrEventTooLarge marks an event whose encoding alone is over MaxBatchBytes.
var ErrEventTooLarge = errors.New("event too large for a message")

// Add appends ev if it fits: it returns false (and adds nothing) when the
// batch is full, so the caller sends it and starts another.
func (b *Batch) Add(ev model.CartEvent) (bool, error) {
	line, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("encode event %s: %w", ev.EventID, err)
	}
	if len(line) > MaxBatchBytes {
		return false, fmt.Errorf("%w: event %s is %d bytes, over %d", ErrEventTooLarge, ev.EventID, len(line), MaxBatchBytes)
	}
	size := len(b.data) + len(line)
	if b.n > 0 {
		size++ // the newline before it
	}
	if b.n >= MaxBatchEvents || size > MaxBatchBytes {
		return false, nil
	}
	if b.n > 0 {
		b.data = append(b.data, '\n')
	}
	b.data = append(b.data, line...)
	b.n++
	return true, nil
}

// Len returns the number of events in the batch.
func (b *Batch) Len() int { return b.n }

// Message returns the batch as a Pub/Sub message and empties the batch.
func (b *Batch) Message() *pubsub.Message {
	m := &pubsub.Message{Data: b.data, Attributes: map[string]string{
		AttrSchemaVersion: model.CartEventSchemaVersion, AttrEventCount: strconv.Itoa(b.n),
	}}
	*b = Batch{}
	return m
}

// NewBatchMessage encodes evs as one batch message; it fails if they do not
// fit in one.
func NewBatchMessage(evs ...model.CartEvent) (*pubsub.Message, error) {
	var b Batch
	for _, ev := range evs {
		ok, err := b.Add(ev)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%d events do not fit in one message", len(evs))
		}
	}
	return b.Message(), nil
}

// Result is the outcome of one publish: Get blocks until the server has
// accepted the message (returning its id) or publishing failed.
type Result interface {
	Get(ctx context.Context) (serverID string, err error)
}

// Publisher publishes cart events to one topic, packed into batch messages:
// Publish adds an event to the open batch, which is sent when full or on
// Flush. Every event of a batch shares the batch's Result.
type Publisher struct {
	p *pubsub.Publisher

	mu    sync.Mutex
	batch Batch
	open  *pending // the Result of the open batch
}

// pending is the Result of a batch: it resolves once the batch is sent and
// the topic answered.
type pending struct {
	sent chan struct{}
	res  *pubsub.PublishResult
}

// Get waits until the batch is sent (Flush), then for the topic's answer.
func (p *pending) Get(ctx context.Context) (string, error) {
	select {
	case <-p.sent:
		return p.res.Get(ctx)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// PublishSettings are the batching settings of the cart-events publisher. A
// poll publishes a burst (up to every cart on the first run) and then waits
// for every result. Events are packed a thousand to a message already, so
// a request carries up to 8 messages or 4 MB, or what accumulated in 10 ms.
// Flow control blocks Publish past 200 outstanding messages or 64 MiB,
// which bounds the poller's memory however large the burst.
var PublishSettings = pubsub.PublishSettings{
	DelayThreshold: 10 * time.Millisecond,
	CountThreshold: 8,
	ByteThreshold:  4e6,
	Timeout:        60 * time.Second,
	FlowControlSettings: pubsub.FlowControlSettings{
		MaxOutstandingMessages: 200,
		MaxOutstandingBytes:    64 << 20,
		LimitExceededBehavior:  pubsub.FlowControlBlock,
	},
}

// NewPublisher returns a Publisher for topic (an id or a full name).
func NewPublisher(client *pubsub.Client, topic string) *Publisher {
	p := client.Publisher(topic)
	p.PublishSettings = PublishSettings
	return &Publisher{p: p}
}

// Publish adds ev to the open batch, sending the batch first when ev does
// not fit in it.
func (p *Publisher) Publish(ctx context.Context, ev model.CartEvent) Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok, err := p.batch.Add(ev)
	if err != nil {
		return failed{err}
	}
	if !ok {
		p.send(ctx)
		if ok, err = p.batch.Add(ev); !ok || err != nil {
			return failed{cmp.Or(err, fmt.Errorf("event %s does not fit in an empty batch", ev.EventID))}
		}
	}
	if p.open == nil {
		p.open = &pending{sent: make(chan struct{})}
	}
	return p.open
}

// Flush sends the open batch, if any.
func (p *Publisher) Flush(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.send(ctx)
}

// send publishes the open batch; p.mu is held.
func (p *Publisher) send(ctx context.Context) {
	if p.open == nil {
		return
	}
	p.open.res = p.p.Publish(ctx, p.batch.Message())
	close(p.open.sent)
	p.open = nil
}

// Stop sends the open batch, flushes pending messages and stops the
// publisher's goroutines.
func (p *Publisher) Stop() {
	p.Flush(context.Background())
	p.p.Stop()
}

type failed struct{ err error }

func (f failed) Get(context.Context) (string, error) { return "", f.err }

// PushMessage is the Pub/Sub message of a push request.
type PushMessage struct {
	Data        []byte            `json:"data"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	MessageID   string            `json:"messageId"`
	PublishTime time.Time         `json:"publishTime"`
}

// PushRequest is the body of a Pub/Sub push request: the one struct for the
// envelope, used by StreamCartEvents to read it and by the local runner to
// write it.
type PushRequest struct {
	Message      PushMessage `json:"message"`
	Subscription string      `json:"subscription"`
}

// MaxPushBody bounds a push request body: a Pub/Sub message is at most 10 MB,
// base64-encoded in the body (4/3 of that), plus its attributes.
const MaxPushBody = 16 << 20

// ErrPoison marks a message that can never be stored as a cart event.
var ErrPoison = errors.New("poison message")

// DecodePush decodes a push request body. Every failure wraps ErrPoison and
// says what was wrong.
func DecodePush(body []byte) (PushRequest, error) {
	var p PushRequest
	if len(body) > MaxPushBody {
		return p, fmt.Errorf("%w: push request of %d bytes is over the %d-byte limit", ErrPoison, len(body), MaxPushBody)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("%w: body is not a Pub/Sub push envelope: %v", ErrPoison, err)
	}
	if p.Message.MessageID == "" {
		return p, fmt.Errorf("%w: push envelope has no message id", ErrPoison)
	}
	return p, nil
}

// DecodeCartEventBody reads and validates one cart event from a message body
// (or a line of the lake's event archive, which keeps bodies only). Every
// failure wraps ErrPoison and says what was wrong.
func DecodeCartEventBody(data []byte) (model.CartEvent, error) {
	var ev model.CartEvent
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return ev, fmt.Errorf("%w: body is not a cart event: %v", ErrPoison, err)
	}
	if dec.More() {
		return ev, fmt.Errorf("%w: body has data after the event", ErrPoison)
	}
	if err := model.Validate(&ev); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrPoison, err)
	}
	return ev, nil
}

// Line is one event of a message as StreamCartEvents reads it: its event,
// or why it was refused.
type Line struct {
	// Index is the line's place in the message, from 1.
	Index int
	// Data is the line as sent.
	Data []byte
	// Event is the decoded and validated event when Err is nil.
	Event model.CartEvent
	// Err wraps ErrPoison and says what was wrong with the line.
	Err error
}

// DecodeMessage reads the cart events of msg: the lines of a batch message,
// or the one event of a message of the one-event shape. An error (wrapping
// ErrPoison) means the message as a whole cannot be trusted (unknown schema
// version, or a batch that does not hold the events it announces, as a body
// cut short); otherwise each line carries its event or its own error.
func DecodeMessage(msg PushMessage) ([]Line, error) {
	if v := msg.Attributes[AttrSchemaVersion]; v != model.CartEventSchemaVersion {
		return nil, fmt.Errorf("%w: unknown schema_version %q (want %q)", ErrPoison, v, model.CartEventSchemaVersion)
	}
	count, batched := msg.Attributes[AttrEventCount]
	if !batched {
		ev, err := decodeSingle(msg)
		return []Line{{Index: 1, Data: msg.Data, Event: ev, Err: err}}, nil
	}
	want, err := strconv.Atoi(count)
	if err != nil || want < 1 || want > MaxBatchEvents {
		return nil, fmt.Errorf("%w: event_count %q is not a number from 1 to %d", ErrPoison, count, MaxBatchEvents)
	}
	body := bytes.TrimSuffix(msg.Data, []byte("\n"))
	// At most want+1 parts, however many lines untrusted data holds.
	data := bytes.SplitN(body, []byte("\n"), want+1)
	if len(data) != want {
		return nil, fmt.Errorf("%w: event_count says %d events but the data holds %d lines", ErrPoison, want, bytes.Count(body, []byte("\n"))+1)
	}
	lines := make([]Line, len(data))
	for i, line := range data {
		ev, err := DecodeCartEventBody(line)
		if err != nil {
			err = fmt.Errorf("line %d: %w", i+1, err)
		}
		lines[i] = Line{Index: i + 1, Data: line, Event: ev, Err: err}
	}
	return lines, nil
}

// decodeSingle reads the event of a message of the one-event shape, whose
// attributes must agree with its body.
func decodeSingle(msg PushMessage) (model.CartEvent, error) {
	ev, err := DecodeCartEventBody(msg.Data)
	if err != nil {
		return ev, err
	}
	if id := msg.Attributes[AttrEventID]; id != ev.EventID {
		return ev, fmt.Errorf("%w: event_id attribute %q does not match the body's %q", ErrPoison, id, ev.EventID)
	}
	if t := msg.Attributes[AttrEventType]; t != ev.EventType {
		return ev, fmt.Errorf("%w: event_type attribute %q does not match the body's %q", ErrPoison, t, ev.EventType)
	}
	return ev, nil
}
