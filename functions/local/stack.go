package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"

	"github.com/shoplake/shoplake/functions/entrypoints"
	"github.com/shoplake/shoplake/functions/local/internal/audit"
	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// stack is the running set of stand-ins and functions.
type stack struct {
	opts Options
	base string // URL of the functions
	api  *storefront.Server
	// served counts the records the built-in source answered (nil for an
	// external one), for progress lines.
	served func() int64
	// sourceEnv are the source's settings the functions get: SOURCE_KIND,
	// and the credentials of a built-in store stand-in.
	sourceEnv map[string]string
	gcs       *storage.Client
	wh        *duckdb.Warehouse
	whClosed  bool
	ps        *emulation.PubSub
	transform deferredTransform
	closers   []func()
}

// releaseWarehouse closes the warehouse file so that another process (dbt)
// can open it; the functions must not run after it.
func (s *stack) releaseWarehouse() {
	if s.wh != nil && !s.whClosed {
		s.whClosed = true
		s.wh.Close()
	}
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// start brings up the stand-ins and serves the functions.
func start(ctx context.Context, opts Options, sum *summary.Summary) (*stack, error) {
	st := &stack{opts: opts}
	out := opts.Out
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o755); err != nil {
		return st, fmt.Errorf("create %s: %w", opts.Dir, err)
	}
	addr, err := reservePort(opts.Port)
	if err != nil {
		return st, err
	}
	logFile, err := os.OpenFile(sum.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return st, fmt.Errorf("open function log: %w", err)
	}
	st.closers = append(st.closers, func() { logFile.Close() })
	level, err := logging.ParseLevel(envOr(opts.Env, "LOG_LEVEL", "info"))
	if err != nil {
		return st, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	logger := logging.New(logFile, level)

	baseURL, err := st.startSource(ctx, sum)
	if err != nil {
		return st, err
	}
	fmt.Fprintf(out, "source:    %s\n", sum.Source)
	if err := st.startStorage(ctx); err != nil {
		return st, err
	}
	fmt.Fprintf(out, "lake:      gs://%s on fake-gcs-server (%s)\n", names.Bucket, filepath.Join(opts.Dir, "gcs"))

	if err := st.openWarehouse(ctx, sum); err != nil {
		return st, err
	}
	if err := st.openPubSub(ctx); err != nil {
		return st, err
	}

	st.transform = deferredTransform{logger: logger}
	if err := st.register(ctx, baseURL, logFile); err != nil {
		return st, err
	}
	st.base, err = serveOn(ctx, addr, opts.Port == 0)
	if err != nil {
		return st, err
	}
	fmt.Fprintf(out, "functions: %s/{%s} (functions-framework-go; logs in %s)\n\n", st.base,
		strings.Join(entrypoints.Names(), ","), sum.LogFile)
	return st, nil
}

// openWarehouse opens the DuckDB warehouse (after deleting it, with
// Rebuild), and rebuilds from the lake a warehouse that is new while the
// lake holds data.
func (st *stack) openWarehouse(ctx context.Context, sum *summary.Summary) error {
	opts, out := st.opts, st.opts.Out
	dbPath := names.Warehouse(opts.Dir)
	if opts.Rebuild {
		if err := audit.RemoveWarehouse(opts.Dir); err != nil {
			return err
		}
	}
	_, statErr := os.Stat(dbPath)
	newWarehouse := errors.Is(statErr, os.ErrNotExist)
	// DuckDB's memory is bounded (SHOPLAKE_DUCKDB_MEMORY, default 192MB;
	// it spills to disk past it), so that the runner's memory stays flat
	// at any scale.
	var err error
	st.wh, err = duckdb.Open(ctx, duckdb.Config{Path: dbPath, Dataset: names.RawDataset, MemoryLimit: envOr(opts.Env, "SHOPLAKE_DUCKDB_MEMORY", "192MB")},
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
	st.closers = append(st.closers, st.releaseWarehouse)
	sum.Warehouse = dbPath
	fmt.Fprintf(out, "warehouse: DuckDB %s\n", dbPath)
	if !newWarehouse || !lakeHasData(opts.Dir) {
		return nil
	}
	fmt.Fprintf(out, "warehouse: new, but the lake holds data: rebuilding it from the lake (snapshots reloaded, archived cart events replayed) …\n")
	n, err := audit.RebuildFromLake(ctx, opts.Dir, st.gcs.Bucket(names.Bucket), st.wh)
	if err != nil {
		return fmt.Errorf("rebuild the warehouse from the lake: %w", err)
	}
	sum.Rebuilt, sum.Replayed = true, n
	fmt.Fprintf(out, "warehouse: %d archived cart events replayed\n", n)
	return nil
}

// openPubSub starts Pub/Sub: the gcloud emulator PUBSUB_EMULATOR_HOST
// names, or pstest in-process with its backlog on disk.
func (st *stack) openPubSub(ctx context.Context) error {
	emulator := envOr(st.opts.Env, "PUBSUB_EMULATOR_HOST", "")
	var err error
	st.ps, err = emulation.StartPubSub(ctx, emulator, filepath.Join(st.opts.Dir, "pubsub"))
	if err != nil {
		return err
	}
	st.closers = append(st.closers, st.ps.Close)
	if emulator != "" {
		fmt.Fprintf(st.opts.Out, "pubsub:    gcloud emulator at %s\n", emulator)
	} else {
		fmt.Fprintf(st.opts.Out, "pubsub:    pstest in-process, undelivered messages kept in %s\n", filepath.Join(st.opts.Dir, "pubsub"))
	}
	return nil
}

// startStorage starts fake-gcs-server on disk and a client reaching it
// through STORAGE_EMULATOR_HOST, as tests of production code do.
func (st *stack) startStorage(ctx context.Context) error {
	// Downloads are routed by Host header, so the fake must know the address
	// it is reached at: give it a port up front and name it as its public host.
	root := filepath.Join(st.opts.Dir, "gcs")
	var srv *fakestorage.Server
	gcsAddr, err := onFreePort(func(addr string) (err error) {
		_, gcsPort, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(gcsPort)
		srv, err = fakestorage.NewServerWithOptions(fakestorage.Options{
			StorageRoot: root, Scheme: "http", Host: "127.0.0.1",
			Port: uint16(port), PublicHost: addr, Writer: io.Discard,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("start fake-gcs-server on %s: %w", root, err)
	}
	st.closers = append(st.closers, srv.Stop)
	os.Setenv("STORAGE_EMULATOR_HOST", gcsAddr)
	st.gcs, err = storage.NewClient(ctx)
	if err != nil {
		return fmt.Errorf("storage client: %w", err)
	}
	st.closers = append(st.closers, func() { st.gcs.Close() })
	if err := st.gcs.Bucket(names.Bucket).Create(ctx, names.ProjectID, nil); err != nil && !isConflict(err) {
		return fmt.Errorf("create bucket %s: %w", names.Bucket, err)
	}
	return nil
}

// isConflict reports whether err is the storage API's 409 Conflict (the
// bucket exists already).
func isConflict(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusConflict
}

func envOr(lookup config.Lookup, name, def string) string {
	if v, ok := lookup(name); ok && v != "" {
		return v
	}
	return def
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
