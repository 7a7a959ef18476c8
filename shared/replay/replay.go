// Package replay refills the raw tables of the warehouse from the lake, which
// is the complete record: every daily snapshot under raw/<entity>/ is loaded
// again, and every cart event of the archive under raw/cart_events/ is
// inserted again. It serves a lost table or a changed model in the cloud
// (scripts/replay, against BigQuery) and a missing warehouse in the local
// runner (against DuckDB).
//
// A replay is safe to repeat: a snapshot load replaces its day's partition,
// and replayed events that are already in bq_raw.cart_events are duplicates
// the staging models drop by event_id.
package replay

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// Warehouse is what a replay writes to: the raw tables' loads and inserts.
type Warehouse interface {
	LoadPartition(ctx context.Context, req warehouse.LoadRequest) (int64, error)
	RecordLoad(ctx context.Context, rec warehouse.LoadRecord) error
	InsertCartEvents(ctx context.Context, rows []warehouse.CartEventRow) ([]error, error)
	InsertRejectedEvents(ctx context.Context, rows []warehouse.RejectedEvent) error
}

// Config configures a replay.
type Config struct {
	// Bucket is the raw bucket's name.
	Bucket string
	// RunID identifies the replay: recorded with each load, and part of its
	// load job ids, so that a replay does not reattach to the original job.
	RunID string
	// BatchRows is how many events one insert carries; 0 means 500.
	BatchRows int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Progress, when set, is called after each object with the totals so far.
	Progress func(Result)
}

// Result counts what a replay did.
type Result struct {
	// Snapshots and Rows count the snapshot objects loaded and their rows.
	Snapshots int
	Rows      int64
	// Skipped counts objects under raw/ that are neither snapshots nor
	// archive objects (reported, never loaded).
	Skipped int
	// ArchiveObjects and Events count the archive objects read and the
	// events inserted; Rejected the lines quarantined in
	// cart_events_rejected, as they were when first streamed.
	ArchiveObjects int
	Events         int64
	Rejected       int64
}

// Replayer replays one bucket into one warehouse.
type Replayer struct {
	cfg    Config
	bucket *storage.BucketHandle
	wh     Warehouse
	res    Result
}

// New returns a Replayer of bucket (the handle of cfg.Bucket) into wh.
func New(cfg Config, bucket *storage.BucketHandle, wh Warehouse) (*Replayer, error) {
	if cfg.Bucket == "" || cfg.RunID == "" || bucket == nil || wh == nil {
		return nil, errors.New("replay: Bucket, RunID, the bucket handle and the warehouse are required")
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Replayer{cfg: cfg, bucket: bucket, wh: wh}, nil
}

// Result returns the totals so far.
func (r *Replayer) Result() Result { return r.res }

// Snapshots loads every snapshot object under raw/ again, each replacing its
// day's partition, and records the loads.
func (r *Replayer) Snapshots(ctx context.Context) error {
	return r.eachObject(ctx, lake.RawPrefix, func(a *storage.ObjectAttrs) error {
		if strings.HasPrefix(a.Name, lake.CartEventsArchivePrefix) {
			return nil
		}
		entity, day, err := lake.ParseRawObject(a.Name)
		if _, known := model.LookupBatchEntity(entity); err != nil || !known {
			r.res.Skipped++
			return nil
		}
		req := warehouse.LoadRequest{Table: entity, Day: day, Bucket: r.cfg.Bucket, Object: a.Name, Generation: a.Generation, Replay: r.cfg.RunID}
		rows, err := r.wh.LoadPartition(ctx, req)
		if err != nil {
			return fmt.Errorf("replay %s: %w", req.URI(), err)
		}
		rec := warehouse.LoadRecord{
			ObjectName: req.URI(), Generation: a.Generation, MD5: base64.StdEncoding.EncodeToString(a.MD5),
			Entity: entity, PartitionDate: day.Format(lake.DateLayout), RowCount: rows,
			RunID: r.cfg.RunID, LoadedAt: r.cfg.Now().UTC(),
		}
		if err := r.wh.RecordLoad(ctx, rec); err != nil {
			return fmt.Errorf("record replayed load of %s: %w", req.URI(), err)
		}
		r.res.Snapshots++
		r.res.Rows += rows
		r.progress()
		return nil
	})
}

// Events inserts every event of the archive into cart_events. A line that is
// not a valid cart event goes to cart_events_rejected with its reason.
func (r *Replayer) Events(ctx context.Context) error {
	return r.eachObject(ctx, lake.CartEventsArchivePrefix, func(a *storage.ObjectAttrs) error {
		rd, err := r.bucket.Object(a.Name).NewReader(ctx)
		if err != nil {
			return fmt.Errorf("read gs://%s/%s: %w", r.cfg.Bucket, a.Name, err)
		}
		defer rd.Close()
		if err := r.archiveObject(ctx, rd, a.Name); err != nil {
			return err
		}
		r.res.ArchiveObjects++
		r.progress()
		return nil
	})
}

// ArchiveObjects counts the objects of the event archive, for a replay's
// progress.
func (r *Replayer) ArchiveObjects(ctx context.Context) (int, error) {
	n := 0
	err := r.eachObject(ctx, lake.CartEventsArchivePrefix, func(*storage.ObjectAttrs) error { n++; return nil })
	return n, err
}

// eachObject calls fn with every object under prefix.
func (r *Replayer) eachObject(ctx context.Context, prefix string, fn func(*storage.ObjectAttrs) error) error {
	it := r.bucket.Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list gs://%s/%s: %w", r.cfg.Bucket, prefix, err)
		}
		if err := fn(a); err != nil {
			return err
		}
	}
}

// progress reports the totals so far to cfg.Progress.
func (r *Replayer) progress() {
	if r.cfg.Progress != nil {
		r.cfg.Progress(r.res)
	}
}

// archiveObject replays one archive object, one event a line.
func (r *Replayer) archiveObject(ctx context.Context, rd io.Reader, name string) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), events.MaxPushBody)
	now := r.cfg.Now().UTC()
	var rows []warehouse.CartEventRow
	var rejected []warehouse.RejectedEvent
	flush := func() error {
		if len(rows) > 0 {
			perRow, err := r.wh.InsertCartEvents(ctx, rows)
			if err != nil {
				return fmt.Errorf("replay %s: %w", name, err)
			}
			written := int64(len(rows))
			for i, e := range perRow {
				if e != nil {
					rejected = append(rejected, warehouse.RejectedEvent{MessageID: rows[i].MessageID, EventID: rows[i].EventID, Reason: e.Error(), ReceivedAt: now})
					written--
				}
			}
			r.res.Events += written
		}
		if len(rejected) > 0 {
			if err := r.wh.InsertRejectedEvents(ctx, rejected); err != nil {
				return fmt.Errorf("replay %s: %w", name, err)
			}
			r.res.Rejected += int64(len(rejected))
		}
		rows, rejected = rows[:0], rejected[:0]
		return nil
	}
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		// The archive keeps no message ids: the object and line stand in.
		id := fmt.Sprintf("archive:%s:%d", strings.TrimPrefix(name, lake.CartEventsArchivePrefix), line)
		ev, err := events.DecodeCartEventBody(sc.Bytes())
		if err != nil {
			rejected = append(rejected, warehouse.RejectedEvent{MessageID: id, Payload: sc.Text(), Reason: "replayed from the archive: " + err.Error(), ReceivedAt: now})
		} else {
			rows = append(rows, warehouse.CartEventRow{CartEvent: ev, MessageID: id, IngestedAt: now})
		}
		if len(rows)+len(rejected) >= r.cfg.BatchRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read gs://%s/%s: %w", r.cfg.Bucket, name, err)
	}
	return flush()
}
