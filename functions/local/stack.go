package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// warehousePath is the warehouse file in dir.
func warehousePath(dir string) string { return filepath.Join(dir, names.WarehouseFile) }

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
func start(ctx context.Context, opts Options, sum *Summary) (*stack, error) {
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
func (st *stack) openWarehouse(ctx context.Context, sum *Summary) error {
	opts, out := st.opts, st.opts.Out
	dbPath := warehousePath(opts.Dir)
	if opts.Rebuild {
		if err := removeWarehouse(opts.Dir); err != nil {
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
	n, err := st.rebuildFromLake(ctx)
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

// startSource serves the built-in API, or checks the external one.
func (st *stack) startSource(ctx context.Context, sum *Summary) (string, error) {
	opts := st.opts
	if opts.storeKind() {
		return st.startStore(sum)
	}
	if opts.SourceBaseURL != "" {
		if err := preflight(ctx, opts.SourceBaseURL, opts.Env, opts.Out); err != nil {
			return "", err
		}
		sum.Source = "external API " + opts.SourceBaseURL
		return opts.SourceBaseURL, nil
	}
	catalog, desc := storefront.Fixtures(), "built-in FakeStore snapshot (20 products, 10 users, 7 carts)"
	if opts.Scale > 0 {
		catalog, desc = storefront.Synthetic(opts.Scale), fmt.Sprintf("built-in synthetic catalogue (%d records per entity)", opts.Scale)
		if opts.PollEvery > 0 {
			catalog, desc = storefront.SyntheticChanging(opts.Scale), desc+", carts changing between polls"
		}
	}
	st.api = storefront.NewServer(catalog)
	st.served = st.api.Served
	url, err := st.serveLocal(func(url string) (http.Handler, error) {
		if opts.SourceFault == "" {
			return st.api, nil
		}
		cfg, err := sourceConfig(url, opts.Env)
		if err != nil {
			return nil, err
		}
		return storefront.WithFault(st.api, opts.SourceFault, 2*cmp.Or(cfg.Timeout, source.DefaultTimeout))
	})
	if err != nil {
		return "", err
	}
	if opts.SourceFault != "" {
		desc += ", misbehaving: " + string(opts.SourceFault)
	}
	sum.Source = desc
	if opts.SourceFault != "" { // the built-in API ignores ?limit=1: only a misbehaving one is worth checking
		if err := preflight(ctx, url, opts.Env, opts.Out); err != nil {
			return "", err
		}
	}
	return url, nil
}

// startStore points the functions at a store of a kind other than FakeStore:
// the external one at SourceBaseURL (its credentials in SOURCE_API_KEY), or
// the kind's built-in stand-in.
func (st *stack) startStore(sum *Summary) (string, error) {
	opts := st.opts
	st.sourceEnv = map[string]string{"SOURCE_KIND": opts.SourceKind}
	if opts.SourceBaseURL != "" {
		sum.Source = opts.SourceKind + " store " + opts.SourceBaseURL
		return opts.SourceBaseURL, nil
	}
	h, served, secret, desc, err := storeHandler(opts.SourceKind, opts.Scale, opts.SourceFault)
	if err != nil {
		return "", err
	}
	url, err := st.serveLocal(func(string) (http.Handler, error) { return h, nil })
	if err != nil {
		return "", err
	}
	if opts.SourceFault != "" {
		desc += ", misbehaving: " + string(opts.SourceFault)
	}
	// The stand-in listens on another port each run: its records name it
	// by its kind, so that an unchanged store writes unchanged snapshots.
	st.served = served
	st.sourceEnv["SOURCE_API_KEY"], st.sourceEnv["SOURCE_STORE"] = secret, "built-in "+opts.SourceKind+" stand-in"
	// The stand-in finishes a bulk export at once: ask after it often; and
	// it is no shared host to spare (the user's SOURCE_RATE_LIMIT wins).
	st.sourceEnv["SHOPIFY_BULK_POLL"], st.sourceEnv["SOURCE_RATE_LIMIT"] = "100ms", "1000"
	sum.Source = desc
	return url, nil
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

// preflight checks that the source answers before anything starts, with the
// SOURCE_* settings and retries the functions use, and says which of three
// things went wrong: unreachable, answering 5xx, or refusing the key.
// Its retries are reported on out, so that a failure stays one line on
// stderr.
func preflight(ctx context.Context, baseURL string, env config.Lookup, out io.Writer) error {
	ctx = logging.WithLogger(ctx, slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})))
	cfg, err := sourceConfig(baseURL, env)
	if err != nil {
		return err
	}
	client, err := source.New(cfg, nil)
	if err != nil {
		return err
	}
	err = client.Retry(ctx, "source check", func(ctx context.Context) error {
		return client.Each(ctx, "/products?limit=1", func(json.RawMessage, *source.OversizedError) error { return nil })
	})
	if err == nil {
		return nil
	}
	var status *source.StatusError
	switch {
	case errors.As(err, &status) && (status.StatusCode == http.StatusUnauthorized || status.StatusCode == http.StatusForbidden):
		return fmt.Errorf("source %s rejected the API key (HTTP %d): check SOURCE_API_KEY and SOURCE_API_KEY_HEADER", baseURL, status.StatusCode)
	case errors.As(err, &status):
		return fmt.Errorf("source %s answered GET /products with HTTP %d: %w", baseURL, status.StatusCode, err)
	case errors.Is(err, source.ErrStalled):
		return fmt.Errorf("source %s is too slow: %w", baseURL, err)
	case errors.Is(err, source.ErrNotArray), errors.Is(err, source.ErrMalformed):
		return fmt.Errorf("source %s does not speak the FakeStore API (GET /products is not a JSON array): %w", baseURL, err)
	default:
		return fmt.Errorf("source %s is unreachable: %w; check SOURCE_BASE_URL, or unset it to use the built-in API", baseURL, err)
	}
}

// sourceConfig is the storefront client configuration the functions get
// from functionEnv for a source at baseURL.
func sourceConfig(baseURL string, env config.Lookup) (source.Config, error) {
	r := config.NewReader(functionEnv(env, baseURL, "", nil))
	cfg := source.ReadConfig(r)
	return cfg, r.Err()
}

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
	for _, p := range []string{emulation.StatePath(dir), filepath.Join(dir, "gcs", names.Bucket, names.StateObject)} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
