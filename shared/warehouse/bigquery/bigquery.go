// Package bigquery is the BigQuery adapter of the warehouse: it loads lake
// objects into day partitions of raw tables with load jobs (explicit schema,
// WRITE_TRUNCATE on the partition decorator, so a reload is idempotent),
// appends cart events and rejected events through the Storage Write API's
// default stream, and records loads and pipeline runs in bq_raw.
package bigquery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/schema"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// Config configures a Warehouse.
type Config struct {
	// ProjectID owns the datasets.
	ProjectID string
	// Dataset is the raw dataset, such as bq_raw.
	Dataset string
	// Location is the datasets' location, such as US (used by Open).
	Location string
	// JobRetryWait is how long LoadPartition waits before running a load
	// job again after BigQuery failed it for a transient reason, doubled
	// for each further job; 0 means one second.
	JobRetryWait time.Duration
}

var identifier = regexp.MustCompile(`^[A-Za-z0-9_-]{1,1000}$`)

// Warehouse is the BigQuery adapter.
type Warehouse struct {
	client *bigquery.Client
	cfg    Config

	// dial makes the Storage Write API client on first use (Open), so that
	// functions that stream nothing never connect to it.
	dial    func(ctx context.Context) (*managedwriter.Client, error)
	writeMu sync.Mutex
	write   *writers // nil until dialled, or without a write client
}

// New returns a Warehouse using client for jobs and inserts, and write (the
// Storage Write API; may be nil when nothing is streamed) for cart events
// and rejected events. The client's Location should be the datasets'
// location.
func New(cfg Config, client *bigquery.Client, write *managedwriter.Client) (*Warehouse, error) {
	if !identifier.MatchString(cfg.ProjectID) || !identifier.MatchString(cfg.Dataset) {
		return nil, fmt.Errorf("bigquery warehouse: invalid project %q or dataset %q", cfg.ProjectID, cfg.Dataset)
	}
	w := &Warehouse{client: client, cfg: cfg}
	if write != nil {
		var err error
		if w.write, err = newWriters(write, cfg.ProjectID, cfg.Dataset); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Open creates the BigQuery and Storage Write API clients with the
// runtime's credentials and returns a Warehouse using them; the Storage
// Write API client is made on the first append.
func Open(ctx context.Context, cfg Config) (*Warehouse, error) {
	client, err := bigquery.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("bigquery client: %w", err)
	}
	client.Location = cfg.Location
	w, err := New(cfg, client, nil)
	if err != nil {
		return nil, err
	}
	w.dial = func(ctx context.Context) (*managedwriter.Client, error) {
		// The client outlives the call that needed it first.
		return managedwriter.NewClient(context.WithoutCancel(ctx), cfg.ProjectID)
	}
	return w, nil
}

// writers returns the Storage Write API writers, dialling the client on
// first use; a failed dial is tried again by the next call.
func (w *Warehouse) writers(ctx context.Context) (*writers, error) {
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	if w.write != nil {
		return w.write, nil
	}
	if w.dial == nil {
		return nil, errNoWriter
	}
	client, err := w.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("bigquery storage write client: %w", err)
	}
	if w.write, err = newWriters(client, w.cfg.ProjectID, w.cfg.Dataset); err != nil {
		client.Close()
		return nil, err
	}
	return w.write, nil
}

func (w *Warehouse) table(name string) *bigquery.Table {
	return w.client.DatasetInProject(w.cfg.ProjectID, w.cfg.Dataset).Table(name)
}

func tableSchema(name string) (bigquery.Schema, error) {
	t, ok := schema.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("no schema for table %q", name)
	}
	s, err := bigquery.SchemaFromJSON(t.JSON)
	if err != nil {
		return nil, fmt.Errorf("parse schema of %s: %w", name, err)
	}
	return s, nil
}

var jobIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// LoadJobID is the deterministic id of the job loading one object generation:
// a retried load finds the job of the earlier attempt instead of starting a
// second one. A replay's loads have ids of their own (the replay's id added),
// so that they run again, and a retried replay reattaches to them.
func LoadJobID(req warehouse.LoadRequest) string {
	id := fmt.Sprintf("shoplake_load_%s_%s_%d", req.Table, req.Day.Format("20060102"), req.Generation)
	if req.Replay != "" {
		id += "_replay_" + req.Replay
	}
	return jobIDUnsafe.ReplaceAllString(id, "_")
}

// LoadPartition replaces the partition req.Day of req.Table with the object's
// rows and returns how many rows the load wrote.
//
// A job that BigQuery failed for a transient reason (transientJobReasons)
// "can safely be retried": LoadPartition runs the load again as the next job
// of the generation's sequence (LoadJobID, then _retry1, _retry2, …), at most
// newJobsPerCall new jobs a call, then returns a transient error for the
// event to be redelivered. The ids stay deterministic, so a redelivery
// reattaches to the jobs already run and goes on where the last call
// stopped. A job that failed for any other reason refused the data: the
// error wraps warehouse.ErrInvalidData.
func (w *Warehouse) LoadPartition(ctx context.Context, req warehouse.LoadRequest) (int64, error) {
	sch, err := tableSchema(req.Table)
	if err != nil {
		return 0, err
	}
	ref := bigquery.NewGCSReference(req.URI())
	ref.SourceFormat = bigquery.JSON
	ref.Schema = sch
	ref.MaxBadRecords = 0

	partition := req.Table + "$" + req.Day.Format("20060102")
	loader := w.table(partition).LoaderFrom(ref)
	loader.WriteDisposition = bigquery.WriteTruncate
	loader.CreateDisposition = bigquery.CreateNever
	loader.Labels = map[string]string{"pipeline": "shoplake", "table": strings.TrimPrefix(req.Table, "_")}

	wait := w.cfg.JobRetryWait
	if wait <= 0 {
		wait = time.Second
	}
	created := 0
	for n := 0; n < maxLoadJobs; n++ {
		id := LoadJobID(req)
		if n > 0 {
			id = fmt.Sprintf("%s_retry%d", id, n)
		}
		loader.JobIDConfig = bigquery.JobIDConfig{JobID: id}
		job, err := loader.Run(ctx)
		fresh := err == nil // started by this call, not found from an earlier one
		if isAlreadyExists(err) {
			job, err = w.client.JobFromIDLocation(ctx, id, w.client.Location)
		}
		if fresh {
			created++
		}
		if err != nil {
			return 0, fmt.Errorf("start load of %s into %s: %w", req.URI(), partition, err)
		}
		status, err := job.Wait(ctx)
		if err != nil {
			return 0, fmt.Errorf("wait for load job %s: %w", job.ID(), err)
		}
		jobErr := status.Err()
		if jobErr == nil {
			stats, ok := status.Statistics.Details.(*bigquery.LoadStatistics)
			if !ok {
				return 0, fmt.Errorf("load job %s: no load statistics", job.ID())
			}
			return stats.OutputRows, nil
		}
		if !transientJobError(jobErr) {
			// The job ran and refused the data: a retry of the same
			// generation reattaches to this failed job.
			return 0, fmt.Errorf("load %s into %s (job %s): %w: %w", req.URI(), partition, job.ID(), warehouse.ErrInvalidData, jobErr)
		}
		if created == newJobsPerCall {
			return 0, fmt.Errorf("load %s into %s: job %s failed for a transient reason, as did the %d before it; a redelivery goes on with the next: %w", req.URI(), partition, job.ID(), n, jobErr)
		}
		if !fresh {
			continue // an earlier call's failed job: its backoff has passed
		}
		select {
		case <-time.After(wait):
			wait *= 2
		case <-ctx.Done():
			return 0, fmt.Errorf("load %s into %s: job %s failed (%w), and %w before the next", req.URI(), partition, job.ID(), jobErr, ctx.Err())
		}
	}
	return 0, fmt.Errorf("load %s into %s: all %d load jobs of this generation failed for transient reasons", req.URI(), partition, maxLoadJobs)
}

// newJobsPerCall bounds the load jobs one LoadPartition call starts;
// maxLoadJobs bounds the jobs of one object generation across redeliveries.
const (
	newJobsPerCall = 3
	maxLoadJobs    = 12
)

// transientJobReasons are the reasons of a failed job that BigQuery's error
// table says to retry: a server failure or a rate limit (such as too many
// updates of one table), not the data.
var transientJobReasons = map[string]bool{
	"backendError": true, "internalError": true, "rateLimitExceeded": true,
	"jobBackendError": true, "jobInternalError": true, "jobRateLimitExceeded": true,
}

func transientJobError(err error) bool {
	var bqErr *bigquery.Error
	return errors.As(err, &bqErr) && transientJobReasons[bqErr.Reason]
}

func isAlreadyExists(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusConflict
}

// Loaded reports whether _load_metadata records a load of object with md5.
func (w *Warehouse) Loaded(ctx context.Context, object, md5 string) (bool, error) {
	q := w.client.Query(fmt.Sprintf(
		"select count(*) from `%s.%s.%s` where object_name = @object and md5 = @md5",
		w.cfg.ProjectID, w.cfg.Dataset, schema.LoadMetadata))
	q.Parameters = []bigquery.QueryParameter{{Name: "object", Value: object}, {Name: "md5", Value: md5}}
	it, err := q.Read(ctx)
	if err != nil {
		return false, fmt.Errorf("look up %s in %s: %w", object, schema.LoadMetadata, err)
	}
	var row []bigquery.Value
	if err := it.Next(&row); err != nil && !errors.Is(err, iterator.Done) {
		return false, fmt.Errorf("read %s lookup: %w", schema.LoadMetadata, err)
	}
	if len(row) != 1 {
		return false, fmt.Errorf("read %s lookup: no count returned", schema.LoadMetadata)
	}
	n, _ := row[0].(int64)
	return n > 0, nil
}

// RecordLoad appends a _load_metadata row. Its insert id (object and
// generation) lets BigQuery drop a retried insert.
func (w *Warehouse) RecordLoad(ctx context.Context, rec warehouse.LoadRecord) error {
	return w.insert(ctx, schema.LoadMetadata, rec, fmt.Sprintf("%s#%d", rec.ObjectName, rec.Generation))
}

// RecordRun appends a pipeline_runs row, with the run id as insert id.
func (w *Warehouse) RecordRun(ctx context.Context, run warehouse.Run) error {
	return w.insert(ctx, schema.PipelineRuns, run, run.RunID)
}

func (w *Warehouse) insert(ctx context.Context, table string, row any, insertID string) error {
	sch, err := tableSchema(table)
	if err != nil {
		return err
	}
	saver := &bigquery.StructSaver{Struct: row, Schema: sch, InsertID: insertID}
	if err := w.table(table).Inserter().Put(ctx, saver); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// cartEventRow maps a cart event row onto the cart_events columns.
func cartEventRow(r *warehouse.CartEventRow) map[string]bigquery.Value {
	lines := make([]bigquery.Value, len(r.Products))
	for i, l := range r.Products {
		lines[i] = map[string]bigquery.Value{"product_id": l.ProductID, "quantity": l.Quantity}
	}
	row := map[string]bigquery.Value{
		"event_id": r.EventID, "event_type": r.EventType, "cart_id": nil,
		"products": lines, "fingerprint": r.Fingerprint,
		"extracted_at": r.ExtractedAt, "published_at": r.PublishedAt,
		"message_id": r.MessageID, "ingested_at": r.IngestedAt,
		"user_id": nil, "cart_date": nil, "store_order": nil,
	}
	if !r.IsOrderEvent() {
		row["cart_id"] = r.CartID
	}
	if r.EventType == model.EventCartUpserted {
		row["user_id"] = r.UserID
	}
	if r.CartDate != nil {
		row["cart_date"] = *r.CartDate
	}
	if o := r.StoreOrder; o != nil {
		row["store_order"] = storeOrderRecord(o)
	}
	return row
}

// storeOrderRecord maps a store's order onto the store_order record of
// cart_events (the columns of canonical_orders); money stays exact.
func storeOrderRecord(o *model.CanonicalOrder) map[string]bigquery.Value {
	lines := make([]bigquery.Value, len(o.Lines))
	for i, l := range o.Lines {
		lines[i] = map[string]bigquery.Value{
			"source_id": l.SourceID, "product_id": l.ProductID, "variant_id": l.VariantID, "sku": l.SKU,
			"quantity": l.Quantity, "unit_price": amount(l.UnitPrice), "total": amount(l.Total),
		}
	}
	rec := map[string]bigquery.Value{
		"source_kind": o.Origin.Kind, "source_store": o.Store, "source_id": o.SourceID,
		"created_at": timestamp(o.CreatedAt), "updated_at": timestamp(o.UpdatedAt), "deleted": o.Deleted,
		"attributes": nil, "kind": string(o.Kind), "status": o.Status, "currency": o.Currency,
		"customer_id": o.CustomerID, "total": amount(o.Total), "lines": lines,
	}
	if len(o.Attributes) > 0 {
		rec["attributes"] = string(o.Attributes)
	}
	return rec
}

// amount is an optional amount as a column value: nil when absent.
func amount(a *money.Amount) bigquery.Value {
	if a == nil {
		return nil
	}
	return *a
}

// timestamp is a time as a column value: nil when zero (unknown).
func timestamp(t time.Time) bigquery.Value {
	if t.IsZero() {
		return nil
	}
	return t
}

// InsertCartEvents appends rows to cart_events through the Storage Write
// API, in one request. The second result is a failure of the whole request
// (retry everything); otherwise the first holds one entry per row: nil when
// stored, ErrInvalidData when BigQuery refused the row, ErrRowNotAttempted
// when the request failed because of another row (nothing of it is stored).
func (w *Warehouse) InsertCartEvents(ctx context.Context, rows []warehouse.CartEventRow) ([]error, error) {
	ws, err := w.writers(ctx)
	if err != nil {
		return nil, err
	}
	vals := make([]map[string]bigquery.Value, len(rows))
	for i := range rows {
		vals[i] = cartEventRow(&rows[i])
	}
	return ws.events.append(ctx, vals)
}

// rejectedRow maps a rejected event onto the cart_events_rejected columns.
func rejectedRow(r *warehouse.RejectedEvent) map[string]bigquery.Value {
	row := map[string]bigquery.Value{
		"message_id": r.MessageID, "reason": r.Reason, "payload": r.Payload,
		"attributes": r.Attributes, "subscription": r.Subscription, "received_at": r.ReceivedAt,
		"event_id": nil, "event_index": nil,
	}
	if r.EventID != "" {
		row["event_id"] = r.EventID
	}
	if r.EventIndex > 0 {
		row["event_index"] = r.EventIndex
	}
	return row
}

// InsertRejectedEvents appends rows to cart_events_rejected through the
// Storage Write API, all or nothing: any row refused fails the call, so the
// message is redelivered and no rejected event is lost.
func (w *Warehouse) InsertRejectedEvents(ctx context.Context, rows []warehouse.RejectedEvent) error {
	ws, err := w.writers(ctx)
	if err != nil {
		return err
	}
	vals := make([]map[string]bigquery.Value, len(rows))
	for i := range rows {
		vals[i] = rejectedRow(&rows[i])
	}
	perRow, err := ws.rejected.append(ctx, vals)
	if err != nil {
		return err
	}
	for i, rowErr := range perRow {
		if rowErr != nil {
			return fmt.Errorf("store rejected event %d of message %s: %w", rows[i].EventIndex, rows[i].MessageID, rowErr)
		}
	}
	return nil
}

// Close closes the write streams and the clients.
func (w *Warehouse) Close() error {
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	var err error
	if w.write != nil {
		err = w.write.close()
	}
	return errors.Join(err, w.client.Close())
}
