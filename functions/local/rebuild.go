package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// removeWarehouse deletes the warehouse file and what describes it (the dbt
// build state), for --rebuild.
func removeWarehouse(dir string) error {
	for _, p := range []string{"warehouse.duckdb", "warehouse.duckdb.wal", "dbt-state.json"} {
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// rebuildFromLake fills a new, empty warehouse from the lake, which is the
// complete record: every snapshot is delivered again to LoadRawObject (the
// runner forgets which it delivered), and every archived cart event is
// replayed into bq_raw.cart_events (an event that fails validation goes to
// cart_events_rejected, as it did when it was streamed). The marts are then
// built because they are missing. It returns the number of events replayed.
func (st *stack) rebuildFromLake(ctx context.Context) (int64, error) {
	if err := os.Remove(statePath(st.opts.Dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("forget delivered snapshots: %w", err)
	}
	return replayArchive(ctx, st.gcs.Bucket(Bucket), st.wh, time.Now())
}

// replayBatch is how many events one warehouse insert carries in a replay.
const replayBatch = 5000

// replayArchive inserts every event of the archive into the warehouse.
func replayArchive(ctx context.Context, bucket *storage.BucketHandle, wh *duckdb.Warehouse, now time.Time) (int64, error) {
	var n int64
	it := bucket.Objects(ctx, &storage.Query{Prefix: lake.CartEventsArchivePrefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("list the event archive: %w", err)
		}
		r, err := bucket.Object(a.Name).NewReader(ctx)
		if err != nil {
			return n, fmt.Errorf("read %s: %w", a.Name, err)
		}
		m, err := replayObject(ctx, r, a.Name, wh, now)
		r.Close()
		n += m
		if err != nil {
			return n, err
		}
	}
}

// replayObject replays one archive object.
func replayObject(ctx context.Context, r io.Reader, name string, wh *duckdb.Warehouse, now time.Time) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var rows []warehouse.CartEventRow
	var rejected []warehouse.RejectedEvent
	var n int64
	flush := func() error {
		if len(rows) > 0 {
			perRow, err := wh.InsertCartEvents(ctx, rows)
			if err != nil {
				return fmt.Errorf("replay %s: %w", name, err)
			}
			for i, e := range perRow {
				if e != nil {
					rejected = append(rejected, warehouse.RejectedEvent{MessageID: rows[i].MessageID, EventID: rows[i].EventID, Reason: e.Error(), ReceivedAt: now})
				}
			}
		}
		if len(rejected) > 0 {
			if err := wh.InsertRejectedEvents(ctx, rejected); err != nil {
				return fmt.Errorf("replay %s: %w", name, err)
			}
		}
		rows, rejected = rows[:0], rejected[:0]
		return nil
	}
	for line := 1; sc.Scan(); line++ {
		id := fmt.Sprintf("archive:%s:%d", strings.TrimPrefix(name, lake.CartEventsArchivePrefix), line)
		var ev model.CartEvent
		err := json.Unmarshal(sc.Bytes(), &ev)
		if err == nil {
			err = model.Validate(&ev)
		}
		if err != nil {
			rejected = append(rejected, warehouse.RejectedEvent{MessageID: id, Payload: sc.Text(), Reason: "replayed from the archive: " + err.Error(), ReceivedAt: now})
		} else {
			rows = append(rows, warehouse.CartEventRow{CartEvent: ev, MessageID: id, IngestedAt: now})
		}
		n++
		if len(rows)+len(rejected) >= replayBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("read %s: %w", name, err)
	}
	return n, flush()
}
