package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoplake/shoplake/functions/local/internal/audit"
	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// Warehouse is the DuckDB warehouse the functions write to; it is closed
// once ReleaseWarehouse is called.
func (s *Stack) Warehouse() *duckdb.Warehouse { return s.wh }

// ReleaseWarehouse closes the warehouse file so that another process (dbt)
// can open it; the functions must not run after it.
func (s *Stack) ReleaseWarehouse() {
	if s.wh != nil && !s.whClosed {
		s.whClosed = true
		s.wh.Close()
	}
}

// openWarehouse opens the DuckDB warehouse (after deleting it, with
// Rebuild), and rebuilds from the lake a warehouse that is new while the
// lake holds data.
func (st *Stack) openWarehouse(ctx context.Context, sum *summary.Summary) error {
	cfg, out := st.cfg, st.cfg.Out
	dbPath := names.Warehouse(cfg.Dir)
	if cfg.Rebuild {
		if err := audit.RemoveWarehouse(cfg.Dir); err != nil {
			return err
		}
	}
	_, statErr := os.Stat(dbPath)
	newWarehouse := errors.Is(statErr, os.ErrNotExist)
	// DuckDB's memory is bounded (SHOPLAKE_DUCKDB_MEMORY, default 192MB;
	// it spills to disk past it), so that the runner's memory stays flat
	// at any scale.
	var err error
	st.wh, err = duckdb.Open(ctx, duckdb.Config{Path: dbPath, Dataset: names.RawDataset, MemoryLimit: envOr(cfg.Env, "SHOPLAKE_DUCKDB_MEMORY", "192MB")},
		duckdb.BucketObjects{Client: st.gcs})
	if err != nil {
		if errors.Is(err, duckdb.ErrLocked) {
			return fmt.Errorf("%s is open in another process (close any duckdb shell or BI tool using it): %w", dbPath, err)
		}
		if statErr == nil {
			// A damaged or foreign file: the warehouse holds nothing the
			// lake does not, so rebuilding it loses nothing.
			return fmt.Errorf(`%w; the warehouse is built from the lake, so "make run ARGS=--rebuild" replaces it with one rebuilt from the lake`, err)
		}
		return err
	}
	st.closers = append(st.closers, st.ReleaseWarehouse)
	sum.Warehouse = dbPath
	fmt.Fprintf(out, "warehouse: DuckDB %s\n", dbPath)
	if !newWarehouse || !lakeHasData(cfg.Dir) {
		return nil
	}
	fmt.Fprintf(out, "warehouse: new, but the lake holds data: rebuilding it from the lake (snapshots reloaded, archived cart events replayed) …\n")
	n, err := audit.RebuildFromLake(ctx, cfg.Dir, st.gcs.Bucket(names.Bucket), st.wh)
	if err != nil {
		return fmt.Errorf("rebuild the warehouse from the lake: %w", err)
	}
	sum.Rebuilt, sum.Replayed = true, n
	fmt.Fprintf(out, "warehouse: %d archived cart events replayed\n", n)
	return nil
}

// lakeHasData reports whether an earlier run left data in the lake: a
// snapshot delivered, or the poller's state committed.
func lakeHasData(dir string) bool {
	for _, p := range []string{emulation.RecordPath(dir), filepath.Join(dir, "gcs", names.Bucket, names.StateObject)} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
