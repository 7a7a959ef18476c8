package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"

	"github.com/shoplake/shoplake/functions/entrypoints"
	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/functions/streamcartevents"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// Config configures the stack.
type Config struct {
	// Dir holds everything a run keeps: gcs/, warehouse.duckdb, logs/,
	// pubsub/, the record of delivered objects.
	Dir string
	// Port is where the functions listen on 127.0.0.1; 0 picks a free port.
	Port int
	// SourceBaseURL points at an external store; empty serves the built-in
	// stand-in of SourceKind.
	SourceBaseURL string
	// SourceKind is the kind of store read (SOURCE_KIND): fakestore,
	// shopify or woocommerce.
	SourceKind string
	// Scale, when positive, makes the built-in stand-in serve that many
	// deterministic synthetic records per entity instead of the snapshot,
	// and Changing makes FakeStore's synthetic carts change between polls.
	Scale    int64
	Changing bool
	// SourceFault, when set, makes the built-in stand-in misbehave (see
	// storefront.Fault, and StoreFaults for the other kinds').
	SourceFault storefront.Fault
	// Rebuild deletes the warehouse first, so that it is rebuilt from the
	// lake (which the stack also does when it finds the warehouse missing).
	Rebuild bool
	// Env supplies the user's settings (SOURCE_*, LOG_LEVEL,
	// PUBSUB_EMULATOR_HOST, SHOPLAKE_DUCKDB_MEMORY, …).
	Env config.Lookup
	// Out receives the lines saying what was started.
	Out io.Writer
}

// Stack is the running set of stand-ins and the functions wired to them.
type Stack struct {
	cfg  Config
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

// URL is the address of the named function.
func (s *Stack) URL(function string) string { return s.base + "/" + function }

// Bucket is the lake's bucket on fake-gcs-server.
func (s *Stack) Bucket() *storage.BucketHandle { return s.gcs.Bucket(names.Bucket) }

// PubSub is the Pub/Sub stand-in.
func (s *Stack) PubSub() *emulation.PubSub { return s.ps }

// Served returns the count of records the built-in source has answered, or
// nil for an external source.
func (s *Stack) Served() func() int64 { return s.served }

// Push is the push subscription's delivery to StreamCartEvents.
func (s *Stack) Push() emulation.Deliverer {
	// SHOPLAKE_PROGRESS_EVERY changes how often delivery progress is
	// printed (default 5s).
	every, _ := time.ParseDuration(envOr(s.cfg.Env, "SHOPLAKE_PROGRESS_EVERY", ""))
	return s.ps.Deliverer(s.Bucket(), s.URL(streamcartevents.FunctionName), s.cfg.Out, every)
}

// LimitMemory bounds the runner's memory while carts are polled and
// delivered. fake-gcs-server holds whole objects in memory while they are
// written and read: that memory is given back first, then the Go heap
// runs within a budget (a soft limit: the collector works harder near it),
// unless GOMEMLIMIT says otherwise. The returned function restores the
// limit before.
func (s *Stack) LimitMemory() (restore func()) {
	debug.FreeOSMemory()
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	before := debug.SetMemoryLimit(streamMemoryLimit)
	return func() { debug.SetMemoryLimit(before) }
}

// streamMemoryLimit is the Go heap's soft limit while carts are polled and
// delivered: with DuckDB's own 192MB, it keeps the runner near 512 MiB
// however large the backlog.
const streamMemoryLimit = 192 << 20

// Close stops everything the stack started, in reverse order.
func (s *Stack) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// Start brings up the stand-ins and serves the functions, and records in
// sum what it started: the source, the warehouse, and a rebuild from the
// lake. The caller closes the stack, even when Start fails.
func Start(ctx context.Context, cfg Config, sum *summary.Summary) (*Stack, error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Env == nil {
		cfg.Env = config.Map(nil)
	}
	st := &Stack{cfg: cfg}
	out := cfg.Out
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return st, fmt.Errorf("create %s: %w", cfg.Dir, err)
	}
	addr, err := reservePort(cfg.Port)
	if err != nil {
		return st, err
	}
	logFile, err := os.OpenFile(sum.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return st, fmt.Errorf("open function log: %w", err)
	}
	st.closers = append(st.closers, func() { logFile.Close() })
	level, err := logging.ParseLevel(envOr(cfg.Env, "LOG_LEVEL", "info"))
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
	fmt.Fprintf(out, "lake:      gs://%s on fake-gcs-server (%s)\n", names.Bucket, filepath.Join(cfg.Dir, "gcs"))

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
	st.base, err = serveOn(ctx, addr, cfg.Port == 0)
	if err != nil {
		return st, err
	}
	fmt.Fprintf(out, "functions: %s/{%s} (functions-framework-go; logs in %s)\n\n", st.base,
		strings.Join(entrypoints.Names(), ","), sum.LogFile)
	return st, nil
}

// openPubSub starts Pub/Sub: the gcloud emulator PUBSUB_EMULATOR_HOST
// names, or pstest in-process with its backlog on disk.
func (st *Stack) openPubSub(ctx context.Context) error {
	emulator := envOr(st.cfg.Env, "PUBSUB_EMULATOR_HOST", "")
	var err error
	st.ps, err = emulation.StartPubSub(ctx, emulator, filepath.Join(st.cfg.Dir, "pubsub"))
	if err != nil {
		return err
	}
	st.closers = append(st.closers, st.ps.Close)
	if emulator != "" {
		fmt.Fprintf(st.cfg.Out, "pubsub:    gcloud emulator at %s\n", emulator)
	} else {
		fmt.Fprintf(st.cfg.Out, "pubsub:    pstest in-process, undelivered messages kept in %s\n", filepath.Join(st.cfg.Dir, "pubsub"))
	}
	return nil
}

// startStorage starts fake-gcs-server on disk and a client reaching it
// through STORAGE_EMULATOR_HOST, as tests of production code do.
func (st *Stack) startStorage(ctx context.Context) error {
	// Downloads are routed by Host header, so the fake must know the address
	// it is reached at: give it a port up front and name it as its public host.
	root := filepath.Join(st.cfg.Dir, "gcs")
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
	if err := dropUnfinishedUploads(srv, root, st.cfg.Out); err != nil {
		return err
	}
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
