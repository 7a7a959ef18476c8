package lake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// Previous describes the newest snapshot of an entity published on or before
// a day: the one a new snapshot is measured against.
type Previous struct {
	Object  string
	Records int64
}

// PreviousSnapshot returns the newest snapshot of entity dated on or before
// day, with the record count its metadata holds; found is false when the lake
// has none yet.
func (w *Writer) PreviousSnapshot(ctx context.Context, entity string, day time.Time) (prev Previous, found bool, err error) {
	last := RawObject(entity, day)
	it := w.bucket.Objects(ctx, &storage.Query{Prefix: RawPrefix + entity + "/dt=", Projection: storage.ProjectionNoACL})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return Previous{}, false, fmt.Errorf("list snapshots of %s: %w", entity, err)
		}
		if e, _, perr := ParseRawObject(attrs.Name); perr != nil || e != entity || attrs.Name > last || attrs.Name < prev.Object {
			continue
		}
		n, perr := strconv.ParseInt(attrs.Metadata[MetaRecords], 10, 64)
		if perr != nil {
			continue // not written by Snapshot.Commit: nothing to measure against
		}
		prev, found = Previous{Object: attrs.Name, Records: n}, true
	}
	return prev, found, nil
}

// HeldObject is where a snapshot the ingest refused to publish is kept:
// rejects/<entity>/dt=YYYY-MM-DD/held-<run id>.jsonl.
func HeldObject(entity string, day time.Time, runID string) string {
	return fmt.Sprintf("%s%s/dt=%s/held-%s.jsonl", RejectsPrefix, entity, day.Format(DateLayout), runID)
}

// MetaHeldReason is the metadata key of a held snapshot's reason.
const MetaHeldReason = "held_reason"

// Hold publishes the staged snapshot at HeldObject instead of its own name,
// with the reason in its metadata, and leaves the snapshot's own object as it
// was. It returns the held object's name.
func (s *Snapshot) Hold(ctx context.Context, entity string, reason error) (string, error) {
	s.final = HeldObject(entity, s.stamp.Day, s.stamp.RunID)
	s.meta = map[string]string{MetaHeldReason: reason.Error()}
	res, err := s.Commit(ctx)
	return res.Object, err
}

// EachRecord reads the published snapshot object line by line, handing fn
// each record as written (with the per-run fields Stamp appends); fn's
// error stops the reading and is returned.
func (w *Writer) EachRecord(ctx context.Context, object string, fn func(line []byte) error) error {
	r, err := w.bucket.Object(object).NewReader(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", object, err)
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", object, err)
	}
	return nil
}

// Handle is the bucket the Writer writes to, for the state kept beside the
// snapshots (state.NewCursorStore).
func (w *Writer) Handle() *storage.BucketHandle { return w.bucket }
