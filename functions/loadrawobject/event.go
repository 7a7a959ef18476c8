package loadrawobject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/shoplake/shoplake/shared/cehttp"

	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// EventType is the CloudEvent type Eventarc sends for a finalized object.
const EventType = "google.cloud.storage.object.v1.finalized"

// Object is the part of a Cloud Storage object event the function uses.
type Object struct {
	Bucket      string
	Name        string
	Generation  int64
	MD5         string
	Size        int64
	TimeCreated time.Time
}

// storageObjectData is the event payload (google.events.cloud.storage.v1.StorageObjectData
// in its JSON form, where int64 fields are strings).
type storageObjectData struct {
	Bucket      string          `json:"bucket"`
	Name        string          `json:"name"`
	Generation  json.RawMessage `json:"generation"`
	MD5Hash     string          `json:"md5Hash"`
	Size        json.RawMessage `json:"size"`
	TimeCreated string          `json:"timeCreated"`
}

// ErrBadEvent marks an event that cannot be decoded into an Object.
var ErrBadEvent = errors.New("bad storage event")

// DecodeEvent checks the event's type and decodes its data into an Object.
func DecodeEvent(e cloudevents.Event) (Object, error) {
	if e.Type() != EventType {
		return Object{}, fmt.Errorf("%w: type %q, want %q", ErrBadEvent, e.Type(), EventType)
	}
	var d storageObjectData
	if err := json.Unmarshal(e.Data(), &d); err != nil {
		return Object{}, fmt.Errorf("%w: data of event %s is not a storage object: %v", ErrBadEvent, e.ID(), err)
	}
	if d.Bucket == "" || d.Name == "" {
		return Object{}, fmt.Errorf("%w: event %s has no bucket or object name", ErrBadEvent, e.ID())
	}
	gen, err := int64Field(d.Generation)
	if err != nil || gen <= 0 {
		return Object{}, fmt.Errorf("%w: event %s for gs://%s/%s has no valid generation", ErrBadEvent, e.ID(), d.Bucket, d.Name)
	}
	if d.MD5Hash == "" {
		return Object{}, fmt.Errorf("%w: event %s for gs://%s/%s has no md5Hash", ErrBadEvent, e.ID(), d.Bucket, d.Name)
	}
	size, _ := int64Field(d.Size)
	created, _ := time.Parse(time.RFC3339Nano, d.TimeCreated)
	return Object{Bucket: d.Bucket, Name: d.Name, Generation: gen, MD5: d.MD5Hash, Size: size, TimeCreated: created}, nil
}

// int64Field accepts an int64 sent as a JSON string (proto JSON) or number.
func int64Field(raw json.RawMessage) (int64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strconv.ParseInt(s, 10, 64)
	}
	var n int64
	err := json.Unmarshal(raw, &n)
	return n, err
}

// ServeHTTP serves Handle to Eventarc deliveries (binary or structured
// CloudEvents); see package cehttp for why it is not registered as a
// functions-framework CloudEvent function.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cehttp.Handler(f.Handle)(w, r)
}

// Handle is the CloudEvent entry point: decode, load, map the outcome. Poison
// input (undecodable events, bad objects, refused data) is logged, recorded
// as a rejected run and acknowledged; transient failures return an error so
// Eventarc redelivers. Events older than MaxEventAge are dropped with a log.
func (f *Function) Handle(ctx context.Context, e cloudevents.Event) error {
	started := f.deps.Now()
	runID := warehouse.NewRunID(started)
	tp, _ := e.Extensions()["traceparent"].(string)
	logger := f.deps.Logger.With(logging.Labels(runID, FunctionName), "event_id", e.ID(),
		logging.Trace(f.cfg.ProjectID, logging.TraceIDFromTraceparent(tp)))
	ctx = logging.WithLogger(ctx, logger)
	run := warehouse.Run{RunID: runID, Function: FunctionName, StartedAt: started.UTC()}
	finish := func(status string, res Result, err error) {
		run.FinishedAt, run.Status = f.deps.Now().UTC(), status
		run.RecordsOut = res.Rows
		if err != nil {
			run.Error = err.Error()
		}
		run.Details = warehouse.DetailsJSON(map[string]any{"event_id": e.ID(), "subject": e.Subject(), "result": res})
		warehouse.Record(ctx, f.deps.Warehouse, run)
	}

	obj, err := DecodeEvent(e)
	if err != nil {
		logger.ErrorContext(ctx, "rejected event", "error", err)
		finish(warehouse.StatusRejected, Result{}, err)
		return nil
	}
	logger = logger.With("object", obj.Name, "generation", obj.Generation)
	ctx = logging.WithLogger(ctx, logger)
	if age := started.Sub(e.Time()); !e.Time().IsZero() && age > f.cfg.MaxEventAge {
		err := fmt.Errorf("event for gs://%s/%s is %s old, over the %s limit", obj.Bucket, obj.Name, age.Round(time.Second), f.cfg.MaxEventAge)
		logger.ErrorContext(ctx, "dropped stale event", "error", err)
		finish(warehouse.StatusSkipped, Result{}, err)
		return nil
	}

	res, err := f.Load(ctx, obj, runID)
	switch {
	case errors.Is(err, ErrPermanent):
		logger.ErrorContext(ctx, "rejected object", "error", err)
		finish(warehouse.StatusRejected, res, err)
		return nil
	case err != nil:
		logger.ErrorContext(ctx, "load failed, will be retried", "error", err)
		finish(warehouse.StatusFailed, res, err)
		return fmt.Errorf("load gs://%s/%s: %w", obj.Bucket, obj.Name, err)
	case res.Outcome == OutcomeIgnored:
		logger.InfoContext(ctx, "ignored object", "reason", res.Reason)
		finish(warehouse.StatusSkipped, res, nil)
		return nil
	case res.Outcome == OutcomeSkipped:
		logger.InfoContext(ctx, "skipped object", "reason", res.Reason)
		finish(warehouse.StatusSkipped, res, nil)
		return nil
	}
	logger.InfoContext(ctx, "loaded object", "table", res.Table, "rows", res.Rows)
	finish(warehouse.StatusSucceeded, res, nil)
	return nil
}
