package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/shared/replay"
)

// removeWarehouse deletes the warehouse file and what describes it (the dbt
// build state), for --rebuild.
func removeWarehouse(dir string) error {
	for _, p := range []string{names.WarehouseFile, names.WarehouseFile + ".wal", dbtrun.StateFile} {
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// rebuildFromLake fills a new, empty warehouse from the lake, which is the
// complete record: every snapshot is delivered again to LoadRawObject (the
// runner forgets which it delivered), and every archived cart event is
// replayed into bq_raw.cart_events by shared/replay, as scripts/replay does
// in the cloud (an event that fails validation goes to cart_events_rejected,
// as it did when it was streamed). The marts are then built because they are
// missing. It returns the number of events replayed.
func (st *stack) rebuildFromLake(ctx context.Context) (int64, error) {
	if err := os.Remove(emulation.RecordPath(st.opts.Dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("forget delivered snapshots: %w", err)
	}
	cfg := replay.Config{Bucket: names.Bucket, RunID: "rebuild-" + time.Now().UTC().Format("20060102T150405Z"), BatchRows: replayBatch}
	r, err := replay.New(cfg, st.gcs.Bucket(names.Bucket), st.wh)
	if err != nil {
		return 0, err
	}
	err = r.Events(ctx)
	res := r.Result()
	return res.Events + res.Rejected, err
}

// replayBatch is how many events one DuckDB insert carries in a rebuild.
const replayBatch = 5000
