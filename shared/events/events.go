// Package events is the Pub/Sub contract of cart events: how PollCarts
// publishes a model.CartEvent (JSON body; event_id, event_type and
// schema_version attributes), and how StreamCartEvents reads one back from
// the body of a Pub/Sub push request.
package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/shoplake/shoplake/shared/model"
)

// Message attribute names.
const (
	AttrEventID       = "event_id"
	AttrEventType     = "event_type"
	AttrSchemaVersion = "schema_version"
)

// NewMessage encodes ev as a Pub/Sub message.
func NewMessage(ev model.CartEvent) (*pubsub.Message, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.EventID, err)
	}
	return &pubsub.Message{Data: data, Attributes: map[string]string{
		AttrEventID: ev.EventID, AttrEventType: ev.EventType, AttrSchemaVersion: model.CartEventSchemaVersion,
	}}, nil
}

// Result is the outcome of one publish: Get blocks until the server has
// accepted the message (returning its id) or publishing failed.
type Result interface {
	Get(ctx context.Context) (serverID string, err error)
}

// Publisher publishes cart events to one topic.
type Publisher struct {
	p *pubsub.Publisher
}

// PublishSettings are the batching settings of the cart-events publisher. A
// poll publishes a burst (up to every cart on the first run) and then waits
// for every result, so batches are made large to cut round trips: up to 1,000
// messages (the API's maximum) or 4 MB per request, or whatever accumulated in
// 50 ms. Flow control blocks Publish past 20,000 outstanding messages or
// 64 MiB, which bounds the poller's memory however large the burst.
var PublishSettings = pubsub.PublishSettings{
	DelayThreshold: 50 * time.Millisecond,
	CountThreshold: 1000,
	ByteThreshold:  4e6,
	Timeout:        60 * time.Second,
	FlowControlSettings: pubsub.FlowControlSettings{
		MaxOutstandingMessages: 20000,
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

// Publish queues ev for publishing.
func (p *Publisher) Publish(ctx context.Context, ev model.CartEvent) Result {
	msg, err := NewMessage(ev)
	if err != nil {
		return failed{err}
	}
	return p.p.Publish(ctx, msg)
}

// Stop flushes pending messages and stops the publisher's goroutines.
func (p *Publisher) Stop() { p.p.Stop() }

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

// DecodeCartEvent reads and validates the cart event in msg. Every failure
// wraps ErrPoison and says what was wrong.
func DecodeCartEvent(msg PushMessage) (model.CartEvent, error) {
	var ev model.CartEvent
	if v := msg.Attributes[AttrSchemaVersion]; v != model.CartEventSchemaVersion {
		return ev, fmt.Errorf("%w: unknown schema_version %q (want %q)", ErrPoison, v, model.CartEventSchemaVersion)
	}
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
