package emulation

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/shoplake/shoplake/functions/loadrawobject"
	"github.com/shoplake/shoplake/functions/local/internal/rundir"
	"github.com/shoplake/shoplake/shared/lake"
)

// Eventarc stands in for Eventarc's Cloud Storage trigger: it finds object
// generations it has not delivered yet and posts each to a CloudEvent
// function in binary content mode, redelivering on a failure as its Policy
// says. fake-gcs-server's own notifications are unreliable, so it lists the
// bucket itself and remembers what it delivered in a file (its
// record of delivered objects, RecordPath).
type Eventarc struct {
	bucket     *storage.BucketHandle
	name       string
	target     string // URL of the function
	recordPath string
	client     *http.Client
	// policy is the trigger's retry policy.
	policy Policy
	// out is told when the record is unreadable.
	out io.Writer

	// pending and done count this delivery's objects, for progress.
	pending, done atomic.Int64
}

// EventarcConfig says what an Eventarc delivers, to what, and how.
type EventarcConfig struct {
	// Bucket is the bucket whose objects it delivers, named BucketName.
	Bucket     *storage.BucketHandle
	BucketName string
	// Target is the URL of the CloudEvent function.
	Target string
	// RecordPath is its record of delivered objects (RecordPath(dir)).
	RecordPath string
	// Policy is the trigger's retry policy (EventarcRedelivery).
	Policy Policy
	// Out is told when the record is unreadable.
	Out io.Writer
}

// NewEventarc returns an Eventarc as cfg says.
func NewEventarc(cfg EventarcConfig) *Eventarc {
	return &Eventarc{bucket: cfg.Bucket, name: cfg.BucketName, target: cfg.Target, recordPath: cfg.RecordPath,
		client: &http.Client{}, policy: cfg.Policy, out: cfg.Out}
}

// Delivered counts the objects of the current delivery done so far, and
// Pending how many it has found to deliver: for progress.
func (e *Eventarc) Delivered() int64 { return e.done.Load() }

// Pending counts the objects the current delivery found to deliver.
func (e *Eventarc) Pending() int64 { return e.pending.Load() }

// delivered maps object name to the last generation delivered.
type delivered map[string]int64

func (e *Eventarc) loadRecord() (delivered, error) {
	b, err := os.ReadFile(e.recordPath)
	if errors.Is(err, os.ErrNotExist) {
		return delivered{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read eventarc record: %w", err)
	}
	d := delivered{}
	if err := json.Unmarshal(b, &d); err != nil {
		// Damaged outside a run (it is replaced whole, never written in
		// place): delivering every object again is safe, since
		// LoadRawObject skips a generation it loaded.
		fmt.Fprintf(cmp.Or(e.out, io.Discard), "eventarc: %s is unreadable (%v): every snapshot is delivered again, and LoadRawObject skips what it loaded\n", e.recordPath, err)
		return delivered{}, nil
	}
	return d, nil
}

func (e *Eventarc) saveRecord(d delivered) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := rundir.ReplaceFile(e.recordPath, b, 0o644); err != nil {
		return fmt.Errorf("write eventarc record: %w", err)
	}
	return nil
}

// Forget makes the next DeliverNew deliver the named objects again.
func (e *Eventarc) Forget(objects ...string) error {
	record, err := e.loadRecord()
	if err != nil {
		return err
	}
	for _, n := range objects {
		delete(record, n)
	}
	return e.saveRecord(record)
}

// Delivery is the outcome of one object's event.
type Delivery struct {
	Object     string  `json:"object"`
	Generation int64   `json:"generation"`
	Attempts   int     `json:"attempts"`
	Status     int     `json:"status"`
	Seconds    float64 `json:"seconds"`
}

// DeliverNew delivers a finalize event for every generation under prefix that
// was not delivered before, in name order.
func (e *Eventarc) DeliverNew(ctx context.Context, prefix string) ([]Delivery, error) {
	record, err := e.loadRecord()
	if err != nil {
		return nil, err
	}
	var pending []*storage.ObjectAttrs
	it := e.bucket.Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", e.name, prefix, err)
		}
		// The event archive would be ignored by LoadRawObject (its unit
		// tests prove it): not delivering it keeps the summary readable.
		if record[a.Name] != a.Generation && !strings.HasPrefix(a.Name, lake.CartEventsArchivePrefix) {
			pending = append(pending, a)
		}
	}
	var out []Delivery
	e.pending.Store(int64(len(pending)))
	for _, a := range pending {
		d, err := e.deliver(ctx, a)
		e.done.Add(1)
		out = append(out, d)
		if err != nil {
			return out, err
		}
		record[a.Name] = a.Generation
		if err := e.saveRecord(record); err != nil {
			return out, err
		}
	}
	return out, nil
}

// deliver posts one event, redelivering on a failure or a non-2xx answer as
// Eventarc's retry policy does (e.policy, through the one redelivery
// routine the Pub/Sub pushers follow too).
func (e *Eventarc) deliver(ctx context.Context, a *storage.ObjectAttrs) (Delivery, error) {
	start := time.Now()
	d := Delivery{Object: a.Name, Generation: a.Generation}
	body, err := json.Marshal(map[string]any{
		"kind": "storage#object", "bucket": a.Bucket, "name": a.Name,
		"id":             fmt.Sprintf("%s/%s/%d", a.Bucket, a.Name, a.Generation),
		"generation":     strconv.FormatInt(a.Generation, 10),
		"metageneration": strconv.FormatInt(a.Metageneration, 10),
		"contentType":    a.ContentType,
		"size":           strconv.FormatInt(a.Size, 10),
		"md5Hash":        base64.StdEncoding.EncodeToString(a.MD5),
		"crc32c":         base64.StdEncoding.EncodeToString(crc32cBytes(a.CRC32C)),
		"metadata":       a.Metadata,
		"timeCreated":    a.Created.UTC().Format(time.RFC3339Nano),
		"updated":        a.Updated.UTC().Format(time.RFC3339Nano),
		"storageClass":   "STANDARD",
	})
	if err != nil {
		return d, err
	}
	ev := cloudEvent{
		ID:      fmt.Sprintf("%s#%d", a.Name, a.Generation), // the same on every redelivery, as in Eventarc
		Source:  "//storage.googleapis.com/projects/_/buckets/" + a.Bucket,
		Type:    loadrawobject.EventType,
		Subject: "objects/" + a.Name,
		Time:    a.Updated,
	}
	d.Attempts, err = e.policy.Deliver(ctx, func(ctx context.Context, _ int) error {
		var err error
		d.Status, err = postCloudEvent(ctx, e.client, e.target, ev, body)
		if err == nil && (d.Status < 200 || d.Status >= 300) {
			err = fmt.Errorf("HTTP %d", d.Status)
		}
		return err
	})
	d.Seconds = time.Since(start).Seconds()
	if errors.Is(err, ErrExhausted) {
		return d, fmt.Errorf("deliver gs://%s/%s#%d: %w (see the function log)", a.Bucket, a.Name, a.Generation, err)
	}
	return d, err
}

// EventarcRedelivery is the local trigger's retry policy: five deliveries,
// 200 ms doubling between them.
var EventarcRedelivery = Policy{Attempts: 5, Backoff: 200 * time.Millisecond}

func crc32cBytes(v uint32) []byte {
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// RecordPath is where Eventarc keeps its record of delivered objects in the
// run directory dir.
func RecordPath(dir string) string { return filepath.Join(dir, "eventarc-delivered.json") }
