// Package localrun runs the whole Shoplake batch pipeline on one machine with
// no cloud account: a FakeStore-compatible server (the real snapshot, or
// synthetic data at any scale), fake-gcs-server in-process and persisted on
// disk, DuckDB as the warehouse, and the functions themselves served over
// HTTP by functions-framework-go. It plays Cloud Scheduler (calling
// IngestBatch) and Eventarc (delivering finalize events to LoadRawObject).
//
// Run registers the functions with functions-framework's process-wide
// registry, so it may be called once per process.
package localrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"

	"github.com/shoplake/shoplake/functions/ingestbatch"
	"github.com/shoplake/shoplake/functions/loadrawobject"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/storefront"
	"github.com/shoplake/shoplake/shared/transform"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// Local names of the cloud resources.
const (
	ProjectID  = "shoplake-local"
	Bucket     = "shoplake-raw"
	RawDataset = "bq_raw"
)

// Options configure a local run.
type Options struct {
	// Dir holds everything the run keeps: gcs/, warehouse.duckdb, logs/,
	// last-run.json.
	Dir string
	// Port is where the functions listen on 127.0.0.1; 0 picks a free port.
	Port int
	// SourceBaseURL points at an external FakeStore-compatible API; empty
	// serves the built-in one.
	SourceBaseURL string
	// Scale, when positive, makes the built-in API serve that many
	// deterministic synthetic records per entity instead of the snapshot.
	Scale int64
	// Env supplies optional SOURCE_* and LOG_LEVEL overrides.
	Env config.Lookup
	// Out receives the human-readable progress and summary.
	Out io.Writer
}

// Run runs the pipeline once and returns its summary, also written as JSON to
// Dir/last-run.json.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	started := time.Now()
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Env == nil {
		opts.Env = config.Map(nil)
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", opts.Dir, err)
	}
	addr, err := reservePort(opts.Port)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(opts.Dir, "logs", "functions.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open function log: %w", err)
	}
	defer logFile.Close()
	level, err := logging.ParseLevel(envOr(opts.Env, "LOG_LEVEL", "info"))
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	logger := logging.New(logFile, level)

	// Storefront API.
	sum := &Summary{Dir: opts.Dir, LogFile: logPath}
	var api *storefront.Server
	baseURL := opts.SourceBaseURL
	if baseURL == "" {
		catalog, desc := storefront.Fixtures(), "built-in FakeStore snapshot (20 products, 10 users)"
		if opts.Scale > 0 {
			catalog, desc = storefront.Synthetic(opts.Scale), fmt.Sprintf("built-in synthetic catalogue (%d records per entity)", opts.Scale)
		}
		api = storefront.NewServer(catalog)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("start storefront API: %w", err)
		}
		srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(l)
		defer srv.Close()
		baseURL = "http://" + l.Addr().String()
		sum.Source = desc
	} else {
		if err := preflight(ctx, baseURL); err != nil {
			return nil, err
		}
		sum.Source = "external API " + baseURL
	}
	fmt.Fprintf(opts.Out, "source:    %s\n", sum.Source)

	// Cloud Storage stand-in, reached by the real client through its
	// emulator setting, as in tests of production code.
	// Downloads are routed by Host header, so the fake must know the address
	// it is reached at: give it a port up front and name it as its public host.
	gcsAddr, err := reservePort(0)
	if err != nil {
		return nil, err
	}
	_, gcsPort, _ := net.SplitHostPort(gcsAddr)
	gcsPortNum, _ := strconv.Atoi(gcsPort)
	gcsSrv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		StorageRoot: filepath.Join(opts.Dir, "gcs"), Scheme: "http", Host: "127.0.0.1",
		Port: uint16(gcsPortNum), PublicHost: gcsAddr, Writer: io.Discard,
	})
	if err != nil {
		return nil, fmt.Errorf("start fake-gcs-server on %s: %w", filepath.Join(opts.Dir, "gcs"), err)
	}
	defer gcsSrv.Stop()
	os.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(gcsSrv.URL(), "http://"))
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	defer gcs.Close()
	if err := gcs.Bucket(Bucket).Create(ctx, ProjectID, nil); err != nil && !isConflict(err) {
		return nil, fmt.Errorf("create bucket %s: %w", Bucket, err)
	}
	fmt.Fprintf(opts.Out, "lake:      gs://%s on fake-gcs-server (%s)\n", Bucket, filepath.Join(opts.Dir, "gcs"))

	// Warehouse.
	dbPath := filepath.Join(opts.Dir, "warehouse.duckdb")
	wh, err := duckdb.Open(ctx, duckdb.Config{Path: dbPath, Dataset: RawDataset}, gcsObjects{gcs})
	if err != nil {
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("%s is open in another process (close any duckdb shell or BI tool using it): %w", dbPath, err)
		}
		return nil, err
	}
	defer wh.Close()
	sum.Warehouse = dbPath
	fmt.Fprintf(opts.Out, "warehouse: DuckDB %s\n", dbPath)

	// The functions, configured as they are in the cloud.
	env := map[string]string{
		"PROJECT_ID": ProjectID, "RAW_BUCKET": Bucket, "BQ_RAW_DATASET": RawDataset,
		"SOURCE_BASE_URL": baseURL,
	}
	for _, k := range []string{"SOURCE_API_KEY", "SOURCE_API_KEY_HEADER", "SOURCE_TIMEOUT", "SOURCE_MAX_RETRIES", "SOURCE_RATE_LIMIT", "SOURCE_MAX_RESPONSE_BYTES", "LOG_LEVEL"} {
		if v, ok := opts.Env(k); ok {
			env[k] = v
		}
	}
	ingestCfg, err := ingestbatch.LoadConfig(config.Map(env))
	if err != nil {
		return nil, err
	}
	src, err := source.New(ingestCfg.Source, nil)
	if err != nil {
		return nil, err
	}
	lw, err := lake.NewWriter(lake.Config{Bucket: Bucket}, gcs)
	if err != nil {
		return nil, err
	}
	ingest, err := ingestbatch.New(ingestCfg, ingestbatch.Deps{Source: src, Lake: lw, Runs: wh, Logger: logger})
	if err != nil {
		return nil, err
	}
	loadCfg, err := loadrawobject.LoadConfig(config.Map(env))
	if err != nil {
		return nil, err
	}
	load, err := loadrawobject.New(loadCfg, loadrawobject.Deps{
		Warehouse: wh, Logger: logger,
		Transform: transform.NotConfigured{Logger: logger, Hint: "the local dbt transforms are not built yet"},
	})
	if err != nil {
		return nil, err
	}
	functions.HTTP(ingestbatch.FunctionName, ingest.ServeHTTP)
	functions.CloudEvent(loadrawobject.FunctionName, load.Handle)
	base, err := serve(ctx, addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Out, "functions: %s/{%s,%s} (functions-framework-go; logs in %s)\n\n", base, ingestbatch.FunctionName, loadrawobject.FunctionName, logPath)

	// Cloud Scheduler: the daily batch.
	fmt.Fprintf(opts.Out, "Cloud Scheduler → %s\n", ingestbatch.FunctionName)
	stopProgress := progress(opts.Out, "ingesting", api)
	ingestSum, ingestErr := callIngest(ctx, base+"/"+ingestbatch.FunctionName)
	stopProgress()
	sum.Ingest = ingestSum
	if ingestErr != nil {
		return sum.failed(started, ingestErr)
	}

	// Eventarc: finalize events for every new raw generation.
	ea := &eventarc{
		bucket: gcs.Bucket(Bucket), name: Bucket, target: base + "/" + loadrawobject.FunctionName,
		statePath: statePath(opts.Dir), client: &http.Client{}, attempts: 5, backoff: 200 * time.Millisecond,
	}
	fmt.Fprintf(opts.Out, "Eventarc → %s\n", loadrawobject.FunctionName)
	stopProgress = progress(opts.Out, "loading", nil)
	deliveries, err := ea.deliverNew(ctx, lake.RawPrefix)
	stopProgress()
	sum.Deliveries = deliveries
	if err != nil {
		return sum.failed(started, err)
	}
	if err := sum.collect(ctx, wh); err != nil {
		return sum, err
	}
	sum.finish(started)
	if err := sum.write(); err != nil {
		return sum, err
	}
	sum.Print(opts.Out)
	return sum, nil
}

// reservePort checks that 127.0.0.1:port can be listened on (0 finds a free
// one) and returns the address to serve on.
func reservePort(port int) (string, error) {
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("--port %d is not a TCP port (use 1-65535, or 0 for any free port)", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return "", fmt.Errorf("port %d is in use: stop what is using it, or run make run ARGS=\"--port 0\" to pick a free port", port)
		}
		return "", fmt.Errorf("cannot listen on port %d: %w", port, err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// serve starts functions-framework on addr and waits until it answers.
func serve(ctx context.Context, addr string) (string, error) {
	host, port, _ := net.SplitHostPort(addr)
	errc := make(chan error, 1)
	go func() { errc <- funcframework.StartHostPort(host, port) }()
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			return "", fmt.Errorf("start functions on %s: %w", addr, err)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return base, nil
		}
	}
	return "", fmt.Errorf("functions did not start listening on %s within 10s", addr)
}

// preflight checks that an external source answers before anything starts.
func preflight(ctx context.Context, baseURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/products?limit=1", nil)
	if err != nil {
		return fmt.Errorf("SOURCE_BASE_URL %q is not a valid URL: %w", baseURL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("source %s is unreachable (%v): check SOURCE_BASE_URL, or unset it to use the built-in API", baseURL, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("source %s answered GET /products with HTTP %d: check SOURCE_BASE_URL and SOURCE_API_KEY", baseURL, resp.StatusCode)
	}
	return nil
}

// callIngest calls IngestBatch as Cloud Scheduler does.
func callIngest(ctx context.Context, url string) (ingestbatch.Summary, error) {
	var sum ingestbatch.Summary
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
	if err != nil {
		return sum, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Google-Cloud-Scheduler")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sum, fmt.Errorf("call %s: %w", ingestbatch.FunctionName, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(body, &sum); err != nil || resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		for _, e := range sum.Entities {
			if e.Error != "" {
				msg = e.Entity + ": " + e.Error
			}
		}
		return sum, fmt.Errorf("%s answered HTTP %d: %s", ingestbatch.FunctionName, resp.StatusCode, msg)
	}
	return sum, nil
}

// progress prints a line every two seconds until stopped.
func progress(out io.Writer, what string, api *storefront.Server) func() {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				line := fmt.Sprintf("  … %s, %.0fs", what, time.Since(start).Seconds())
				if api != nil {
					line += fmt.Sprintf(", %d records served by the API", api.Served())
				}
				fmt.Fprintln(out, line)
			}
		}
	}()
	return func() { close(done) }
}

// gcsObjects opens lake objects for the DuckDB warehouse.
type gcsObjects struct{ client *storage.Client }

func (g gcsObjects) Open(ctx context.Context, bucket, object string, generation int64) (io.ReadCloser, error) {
	return g.client.Bucket(bucket).Object(object).Generation(generation).NewReader(ctx)
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
