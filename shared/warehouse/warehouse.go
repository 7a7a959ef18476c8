// Package warehouse holds the types the functions exchange with a data
// warehouse: a partition load, the record of a loaded object, and a pipeline
// run. Adapters live in subpackages: bigquery (deployed) and duckdb (local
// runner only, never linked into a deployed function).
package warehouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/model"
)

// ErrInvalidData marks a load the warehouse refused because of the object's
// content (bad rows, rows outside the partition). Retrying cannot help.
var ErrInvalidData = errors.New("object data rejected by the warehouse")

// ErrRowNotAttempted marks a row of a streaming insert that was valid but not
// written because another row of the same request failed; inserting it again
// is safe.
var ErrRowNotAttempted = errors.New("row not attempted")

// LoadRequest asks for one lake object to replace one day's partition of a
// raw table.
type LoadRequest struct {
	// Table is the raw table, such as "products".
	Table string
	// Day is the partition (dt) the object holds.
	Day time.Time
	// Bucket and Object locate the NDJSON object.
	Bucket, Object string
	// Generation pins the object generation to load.
	Generation int64
	// Replay, when set, is the id of a replay from the lake: the load runs
	// again although this generation was loaded before.
	Replay string
}

// URI returns the object's gs:// URI.
func (r LoadRequest) URI() string { return "gs://" + r.Bucket + "/" + r.Object }

// LoadRecord is one row of bq_raw._load_metadata.
type LoadRecord struct {
	ObjectName    string    `bigquery:"object_name"`
	Generation    int64     `bigquery:"generation"`
	MD5           string    `bigquery:"md5"`
	Entity        string    `bigquery:"entity"`
	PartitionDate string    `bigquery:"partition_date"` // YYYY-MM-DD
	RowCount      int64     `bigquery:"row_count"`
	RunID         string    `bigquery:"run_id"`
	LoadedAt      time.Time `bigquery:"loaded_at"`
}

// Run statuses.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
	StatusRejected  = "rejected"
)

// Run is one row of bq_raw.pipeline_runs: one function invocation.
type Run struct {
	RunID           string    `bigquery:"run_id"`
	Function        string    `bigquery:"function_name"`
	StartedAt       time.Time `bigquery:"started_at"`
	FinishedAt      time.Time `bigquery:"finished_at"`
	Status          string    `bigquery:"status"`
	RecordsIn       int64     `bigquery:"records_in"`
	RecordsOut      int64     `bigquery:"records_out"`
	RecordsRejected int64     `bigquery:"records_rejected"`
	Error           string    `bigquery:"error_message"`
	// Details is a JSON document summarising the run.
	Details string `bigquery:"details"`
}

// RunRecorder stores pipeline_runs rows.
type RunRecorder interface {
	RecordRun(ctx context.Context, run Run) error
}

// Record stores run with rec even if ctx was cancelled (the run's work is
// done by then). A failure is logged with ctx's logger, not returned: failing
// to record a run must never turn a good run into a retry.
func Record(ctx context.Context, rec RunRecorder, run Run) {
	if err := rec.RecordRun(context.WithoutCancel(ctx), run); err != nil {
		logging.FromContext(ctx).ErrorContext(ctx, "record pipeline run", "run_id", run.RunID, "function", run.Function, "error", err)
	}
}

// DetailsJSON encodes v for Run.Details, or returns "" if it cannot.
func DetailsJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// NewRunID returns a sortable, unique id for a run started at t, such as
// 20261123T060000Z-9f86d081.
func NewRunID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// CartEventRow is one row of bq_raw.cart_events: a stored delivery of an event.
type CartEventRow struct {
	model.CartEvent
	MessageID  string    `json:"message_id"`
	IngestedAt time.Time `json:"ingested_at"`
}

// RejectedEvent is one row of bq_raw.cart_events_rejected.
type RejectedEvent struct {
	MessageID    string    `json:"message_id"`
	EventID      string    `json:"event_id,omitempty"`
	Reason       string    `json:"reason"`
	Payload      string    `json:"payload"`
	Attributes   string    `json:"attributes"`
	Subscription string    `json:"subscription"`
	ReceivedAt   time.Time `json:"received_at"`
	// EventIndex is the event's line in a batch message, from 1; 0 when the
	// whole message was rejected.
	EventIndex int `json:"event_index,omitempty"`
}
