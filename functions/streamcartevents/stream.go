// Package streamcartevents is the StreamCartEvents function: for every
// message the cart-events-stream push subscription delivers (a plain Pub/Sub
// push request carrying a batch of cart events, or one event in the earlier
// one-event shape), it validates each event and appends the valid ones to
// bq_raw.cart_events.
//
// Each invalid event, and each message that cannot be read at all, goes to
// bq_raw.cart_events_rejected with its reason, and the message is
// acknowledged, so Pub/Sub stops redelivering it; a transient warehouse
// failure returns an error, so Pub/Sub redelivers the whole message. A
// redelivery appends its events again under the same event ids, which the
// staging model deduplicates.
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
	// InsertCartEvents appends rows. Its error is a failure of the whole
	// request (worth retrying); otherwise it returns one result per row:
	// nil when stored, an error wrapping warehouse.ErrInvalidData when the
	// warehouse refused the row, warehouse.ErrRowNotAttempted when the row
	// was not written because another one was refused.
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
	cfg  Config
	deps Deps
}

// New returns a Function.
func New(cfg Config, deps Deps) (*Function, error) {
	if deps.Warehouse == nil || deps.Logger == nil {
		return nil, errors.New("streamcartevents: Warehouse and Logger are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.BatchRows < 1 {
		cfg.BatchRows = events.MaxBatchEvents
	}
	return &Function{cfg: cfg, deps: deps}, nil
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

// Handle stores the cart events of one push request body: valid events in
// cart_events, each invalid one in cart_events_rejected. A body that is not
// a push envelope, or a message that cannot be read as a whole, is
// quarantined as one row. Handle returns nil when the message may be
// acknowledged, and an error when the warehouse failed and the message must
// come back.
func (f *Function) Handle(ctx context.Context, body []byte) error {
	push, err := events.DecodePush(body)
	if err != nil {
		return f.quarantine(ctx, []warehouse.RejectedEvent{{MessageID: unknownMessageID, Payload: payload(clip(body)), Reason: err.Error()}})
	}
	msg := push.Message
	logger := logging.FromContextOr(ctx, f.deps.Logger).With("message_id", msg.MessageID)
	ctx = logging.WithLogger(ctx, logger)
	lines, err := events.DecodeMessage(msg)
	if err != nil {
		rej := rejected(push, msg.Data, err)
		rej.EventID = msg.Attributes[events.AttrEventID]
		return f.quarantine(ctx, []warehouse.RejectedEvent{rej})
	}
	now := f.deps.Now().UTC()
	var (
		rows    []warehouse.CartEventRow
		stored  []events.Line // the line of each row
		rejects []warehouse.RejectedEvent
	)
	for _, l := range lines {
		if l.Err != nil {
			rejects = append(rejects, rejectedLine(push, l, l.Err))
			continue
		}
		rows = append(rows, warehouse.CartEventRow{CartEvent: l.Event, MessageID: msg.MessageID, IngestedAt: now})
		stored = append(stored, l)
	}
	refused, err := f.insert(ctx, rows)
	if err != nil {
		logger.ErrorContext(ctx, "insert failed, the message will be redelivered", "events", len(rows), "error", err)
		return fmt.Errorf("insert %d events of message %s: %w", len(rows), msg.MessageID, err)
	}
	kept := len(rows)
	for i, rowErr := range refused {
		if rowErr != nil {
			rejects = append(rejects, rejectedLine(push, stored[i], rowErr))
			kept--
		}
	}
	if err := f.quarantine(ctx, rejects); err != nil {
		return err
	}
	logger.DebugContext(ctx, "stored cart events", "events", kept, "rejected", len(rejects))
	return nil
}

// maxAttempts bounds how often one message's rows are inserted again when
// the warehouse did not attempt them because another row was refused.
const maxAttempts = 3

// insert appends rows in requests of at most cfg.BatchRows, and returns one
// result per row: nil when stored, the warehouse's reason when it refused
// the row. Rows not attempted because another row of their request was
// refused are inserted again; an error means the insert must be retried as
// a whole.
func (f *Function) insert(ctx context.Context, rows []warehouse.CartEventRow) ([]error, error) {
	refused := make([]error, len(rows))
	for start := 0; start < len(rows); start += f.cfg.BatchRows {
		todo := make([]int, 0, f.cfg.BatchRows)
		for i := start; i < min(start+f.cfg.BatchRows, len(rows)); i++ {
			todo = append(todo, i)
		}
		for attempt := 1; len(todo) > 0; attempt++ {
			batch := make([]warehouse.CartEventRow, len(todo))
			for j, i := range todo {
				batch[j] = rows[i]
			}
			perRow, err := f.deps.Warehouse.InsertCartEvents(ctx, batch)
			if err != nil {
				return nil, err
			}
			var again []int
			for j, i := range todo {
				switch rowErr := perRow[j]; {
				case rowErr == nil:
				case errors.Is(rowErr, warehouse.ErrRowNotAttempted) && attempt < maxAttempts:
					again = append(again, i)
				case errors.Is(rowErr, warehouse.ErrInvalidData):
					refused[i] = rowErr
				default:
					return nil, fmt.Errorf("event %s: %w", rows[i].EventID, rowErr)
				}
			}
			todo = again
		}
	}
	return refused, nil
}

// unknownMessageID names the message of a body that is not a push envelope.
const unknownMessageID = "(not a push envelope)"

// maxRejectedPayload bounds the payload kept of a body that is not a push
// envelope.
const maxRejectedPayload = 1 << 20

// clip keeps the first maxRejectedPayload bytes of b.
func clip(b []byte) []byte { return b[:min(len(b), maxRejectedPayload)] }

// quarantine stores rejected events in cart_events_rejected, so that the
// message can be acknowledged (it returns nil). If they cannot be stored, it
// returns an error so the message comes back and is tried again.
func (f *Function) quarantine(ctx context.Context, rejects []warehouse.RejectedEvent) error {
	if len(rejects) == 0 {
		return nil
	}
	now := f.deps.Now().UTC()
	for i := range rejects {
		rejects[i].ReceivedAt = now
	}
	logger := logging.FromContextOr(ctx, f.deps.Logger)
	if err := f.deps.Warehouse.InsertRejectedEvents(ctx, rejects); err != nil {
		logger.ErrorContext(ctx, "could not quarantine rejected events", "message_id", rejects[0].MessageID, "rejected", len(rejects), "error", err)
		return fmt.Errorf("quarantine %d events of message %s: %w", len(rejects), rejects[0].MessageID, err)
	}
	for _, r := range rejects {
		logger.WarnContext(ctx, "rejected event", "message_id", r.MessageID, "event_index", r.EventIndex, "reason", r.Reason)
	}
	return nil
}

// rejected is the quarantine row of data from a decoded envelope; it is
// built only for rejected events, off the path of the valid ones.
func rejected(push events.PushRequest, data []byte, reason error) warehouse.RejectedEvent {
	msg := push.Message
	attrs, _ := json.Marshal(msg.Attributes)
	return warehouse.RejectedEvent{
		MessageID: msg.MessageID, Reason: reason.Error(),
		Payload: payload(data), Attributes: string(attrs), Subscription: push.Subscription,
	}
}

// rejectedLine is the quarantine row of one event of a message; in a batch
// it names the event's line.
func rejectedLine(push events.PushRequest, l events.Line, reason error) warehouse.RejectedEvent {
	rej := rejected(push, l.Data, reason)
	rej.EventID = l.Event.EventID
	if rej.EventID == "" {
		rej.EventID = push.Message.Attributes[events.AttrEventID]
	}
	if _, batch := push.Message.Attributes[events.AttrEventCount]; batch {
		rej.EventIndex = l.Index
	}
	return rej
}

// payload keeps message data as text when it is UTF-8, else as base64.
func payload(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}
