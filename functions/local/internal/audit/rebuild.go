package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/shared/replay"
)

// RemoveWarehouse deletes the warehouse file and what describes it (the dbt
// build state), for --rebuild.
func RemoveWarehouse(dir string) error {
	for _, p := range []string{names.WarehouseFile, names.WarehouseFile + ".wal", dbtrun.StateFile} {
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// RebuildFromLake fills a new, empty warehouse wh from the lake (bucket),
// which is the complete record: every snapshot is delivered again to
// LoadRawObject (the record in dir of which it delivered is deleted), and
// every archived cart event is
// replayed into bq_raw.cart_events by shared/replay, as scripts/replay does
// in the cloud (an event that fails validation goes to cart_events_rejected,
// as it did when it was streamed). The marts are then built because they are
// missing. It returns the number of events replayed.
func RebuildFromLake(ctx context.Context, dir string, bucket *storage.BucketHandle, wh replay.Warehouse) (int64, error) {
	if err := os.Remove(emulation.RecordPath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("forget delivered snapshots: %w", err)
	}
	cfg := replay.Config{Bucket: names.Bucket, RunID: "rebuild-" + time.Now().UTC().Format("20060102T150405Z"), BatchRows: replayBatch}
	r, err := replay.New(cfg, bucket, wh)
	if err != nil {
		return 0, err
	}
	err = r.Events(ctx)
	res := r.Result()
	return res.Events + res.Rejected, err
}

// replayBatch is how many events one DuckDB insert carries in a rebuild.
const replayBatch = 5000
