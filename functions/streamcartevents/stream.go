// Package streamcartevents is the StreamCartEvents function: for every cart
// event published to Pub/Sub (a google.cloud.pubsub.topic.v1.messagePublished
// CloudEvent from Eventarc), it validates the event and streams it into
// bq_raw.cart_events with the event id as insert id.
//
// Malformed or invalid messages go to bq_raw.cart_events_rejected with their
// reason and are acknowledged, so Pub/Sub stops redelivering them; transient
// warehouse failures return an error, so Pub/Sub redelivers. Concurrent
// invocations in one instance share inserts (see batcher).
package streamcartevents

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/shoplake/shoplake/shared/cehttp"

	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// FunctionName is the entry point's name.
const FunctionName = "StreamCartEvents"

// Warehouse is what StreamCartEvents needs of the warehouse.
type Warehouse interface {
	InsertCartEvents(ctx context.Context, rows []warehouse.CartEventRow) ([]error, error)
	InsertRejectedEvents(ctx context.Context, rows []warehouse.RejectedEvent) error
}

// Deps are the Function's collaborators.
type Deps struct {
	Warehouse Warehouse
	Logger    *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Function streams cart events into the warehouse.
type Function struct {
	cfg   Config
	deps  Deps
	batch *batcher
}

// New returns a Function and starts its insert batcher.
func New(cfg Config, deps Deps) (*Function, error) {
	if deps.Warehouse == nil || deps.Logger == nil {
		return nil, errors.New("streamcartevents: Warehouse and Logger are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Function{cfg: cfg, deps: deps,
		batch: newBatcher(deps.Warehouse.InsertCartEvents, cfg.BatchRows, cfg.BatchDelay, cfg.InsertTimeout)}, nil
}

// ServeHTTP serves Handle to Eventarc deliveries (binary or structured
// CloudEvents); see package cehttp for why it is not registered as a
// functions-framework CloudEvent function.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cehttp.Handler(f.Handle)(w, r)
}

// Handle is the CloudEvent entry point.
func (f *Function) Handle(ctx context.Context, e cloudevents.Event) error {
	tp, _ := e.Extensions()["traceparent"].(string)
	logger := f.deps.Logger.With("event_id", e.ID(), logging.Trace(f.cfg.ProjectID, logging.TraceIDFromTraceparent(tp)))
	ctx = logging.WithLogger(ctx, logger)

	if e.Type() != events.MessagePublishedType {
		return f.reject(ctx, warehouse.RejectedEvent{MessageID: e.ID(), Payload: payload(e.Data())},
			fmt.Errorf("%w: event type %q, want %q", events.ErrPoison, e.Type(), events.MessagePublishedType))
	}
	env, err := events.DecodeEnvelope(e.Data())
	if err != nil {
		return f.reject(ctx, warehouse.RejectedEvent{MessageID: e.ID(), Payload: payload(e.Data())}, err)
	}
	msg := env.Message
	ev, err := events.DecodeCartEvent(msg)
	if err != nil {
		return f.reject(ctx, rejectedMessage(env), err)
	}
	err = f.batch.Insert(ctx, warehouse.CartEventRow{CartEvent: ev, MessageID: msg.MessageID, IngestedAt: f.deps.Now().UTC()})
	switch {
	case errors.Is(err, warehouse.ErrInvalidData):
		return f.reject(ctx, rejectedMessage(env), err)
	case err != nil:
		logger.ErrorContext(ctx, "insert failed, will be redelivered", "message_id", msg.MessageID, "error", err)
		return fmt.Errorf("insert event %s (message %s): %w", ev.EventID, msg.MessageID, err)
	}
	logger.DebugContext(ctx, "stored cart event", "message_id", msg.MessageID, "cart_id", ev.CartID, "event_type", ev.EventType)
	return nil
}

// reject stores a poison message in cart_events_rejected and acknowledges it
// (returns nil). If the rejected row cannot be stored either, it returns an
// error so the message comes back and the rejection is tried again.
func (f *Function) reject(ctx context.Context, rej warehouse.RejectedEvent, reason error) error {
	rej.Reason = reason.Error()
	rej.ReceivedAt = f.deps.Now().UTC()
	logger := logging.FromContext(ctx)
	if err := f.deps.Warehouse.InsertRejectedEvents(ctx, []warehouse.RejectedEvent{rej}); err != nil {
		logger.ErrorContext(ctx, "could not quarantine a rejected message", "message_id", rej.MessageID, "reason", rej.Reason, "error", err)
		return fmt.Errorf("quarantine message %s: %w", rej.MessageID, err)
	}
	logger.WarnContext(ctx, "rejected message", "message_id", rej.MessageID, "reason", rej.Reason)
	return nil
}

// rejectedMessage is the quarantine row of a decoded envelope; it is built
// only for rejected messages, off the path of the valid ones.
func rejectedMessage(env events.MessagePublishedData) warehouse.RejectedEvent {
	msg := env.Message
	attrs, _ := json.Marshal(msg.Attributes)
	return warehouse.RejectedEvent{
		MessageID: msg.MessageID, EventID: msg.Attributes[events.AttrEventID],
		Payload: payload(msg.Data), Attributes: string(attrs), Subscription: env.Subscription,
	}
}

// payload keeps message data as text when it is UTF-8, else as base64.
func payload(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}
