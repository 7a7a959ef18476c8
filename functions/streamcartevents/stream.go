// Package streamcartevents is the StreamCartEvents function: for every cart
// event the cart-events-stream push subscription delivers (a plain Pub/Sub
// push request), it validates the event and streams it into bq_raw.cart_events
// with the event id as insert id.
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
	"io"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

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

// ServeHTTP is the thin push handler: read the size-limited body, Handle it,
// and answer 204 (acknowledged: stored or quarantined) or 500 (Pub/Sub
// redelivers after its backoff).
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "Pub/Sub push requests are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, events.MaxPushBody+1))
	if err != nil {
		http.Error(w, "read push request: "+err.Error(), http.StatusInternalServerError)
		return
	}
	ctx := logging.WithLogger(r.Context(), f.deps.Logger.With(logging.Trace(f.cfg.ProjectID, logging.TraceID(r.Header))))
	if err := f.Handle(ctx, body); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Handle stores the cart event of one push request body. A body that is not
// a push envelope, or whose message is not a valid cart event, is
// quarantined and acknowledged (nil); an error means the warehouse failed and
// the message must come back.
func (f *Function) Handle(ctx context.Context, body []byte) error {
	push, err := events.DecodePush(body)
	if err != nil {
		return f.reject(ctx, warehouse.RejectedEvent{MessageID: unknownMessageID, Payload: payload(clip(body))}, err)
	}
	msg := push.Message
	logger := logging.FromContextOr(ctx, f.deps.Logger).With("message_id", msg.MessageID)
	ctx = logging.WithLogger(ctx, logger)
	ev, err := events.DecodeCartEvent(msg)
	if err != nil {
		return f.reject(ctx, rejectedMessage(push), err)
	}
	err = f.batch.Insert(ctx, warehouse.CartEventRow{CartEvent: ev, MessageID: msg.MessageID, IngestedAt: f.deps.Now().UTC()})
	switch {
	case errors.Is(err, warehouse.ErrInvalidData):
		return f.reject(ctx, rejectedMessage(push), err)
	case err != nil:
		logger.ErrorContext(ctx, "insert failed, will be redelivered", "event_id", ev.EventID, "error", err)
		return fmt.Errorf("insert event %s (message %s): %w", ev.EventID, msg.MessageID, err)
	}
	logger.DebugContext(ctx, "stored cart event", "event_id", ev.EventID, "cart_id", ev.CartID, "event_type", ev.EventType)
	return nil
}

// unknownMessageID names the message of a body that is not a push envelope.
const unknownMessageID = "(not a push envelope)"

// maxRejectedPayload bounds the payload kept of a body that is not a push
// envelope.
const maxRejectedPayload = 1 << 20

// clip keeps the first maxRejectedPayload bytes of b.
func clip(b []byte) []byte { return b[:min(len(b), maxRejectedPayload)] }

// reject stores a poison message in cart_events_rejected and acknowledges it
// (returns nil). If the rejected row cannot be stored either, it returns an
// error so the message comes back and the rejection is tried again.
func (f *Function) reject(ctx context.Context, rej warehouse.RejectedEvent, reason error) error {
	rej.Reason = reason.Error()
	rej.ReceivedAt = f.deps.Now().UTC()
	logger := logging.FromContextOr(ctx, f.deps.Logger)
	if err := f.deps.Warehouse.InsertRejectedEvents(ctx, []warehouse.RejectedEvent{rej}); err != nil {
		logger.ErrorContext(ctx, "could not quarantine a rejected message", "message_id", rej.MessageID, "reason", rej.Reason, "error", err)
		return fmt.Errorf("quarantine message %s: %w", rej.MessageID, err)
	}
	logger.WarnContext(ctx, "rejected message", "message_id", rej.MessageID, "reason", rej.Reason)
	return nil
}

// rejectedMessage is the quarantine row of a decoded envelope; it is built
// only for rejected messages, off the path of the valid ones.
func rejectedMessage(push events.PushRequest) warehouse.RejectedEvent {
	msg := push.Message
	attrs, _ := json.Marshal(msg.Attributes)
	return warehouse.RejectedEvent{
		MessageID: msg.MessageID, EventID: msg.Attributes[events.AttrEventID],
		Payload: payload(msg.Data), Attributes: string(attrs), Subscription: push.Subscription,
	}
}

// payload keeps message data as text when it is UTF-8, else as base64.
func payload(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}
