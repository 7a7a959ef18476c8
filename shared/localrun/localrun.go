// Package localrun runs the whole Shoplake pipeline on one machine with no
// cloud account: a FakeStore-compatible server (the real snapshot, or
// synthetic data at any scale), fake-gcs-server in-process and persisted on
// disk, Pub/Sub in-process (pstest) or the gcloud emulator, DuckDB as the
// warehouse, and the functions themselves served over HTTP by
// functions-framework-go. It plays Cloud Scheduler (calling IngestBatch and
// PollCarts) and Eventarc (delivering storage events to LoadRawObject and
// Pub/Sub messages to StreamCartEvents).
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
	"log/slog"
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
	"github.com/shoplake/shoplake/functions/pollcarts"
	"github.com/shoplake/shoplake/functions/streamcartevents"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/state"
	"github.com/shoplake/shoplake/shared/storefront"
	"github.com/shoplake/shoplake/shared/transform"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// Local names of the cloud resources.
const (
	ProjectID   = "shoplake-local"
	Bucket      = "shoplake-raw"
	RawDataset  = "bq_raw"
	StateObject = "state/cart-poller.state"
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
	// PollEvery, when positive, keeps polling carts at this interval after
	// the first poll (until Polls polls, or until ctx ends); with Scale, the
	// synthetic carts change between polls.
	PollEvery time.Duration
	// Polls bounds the number of polls when PollEvery is set (0: no bound).
	Polls int
	// DBT is the dbt executable and DBTProject the dbt project directory; the
	// runner runs `dbt build --target local` once after the loads and
	// streams settle. Without DBT the transforms are reported as not
	// configured.
	DBT, DBTProject string
	// Env supplies optional SOURCE_*, LOG_LEVEL and PUBSUB_EMULATOR_HOST
	// settings.
	Env config.Lookup
	// Out receives the human-readable progress and summary.
	Out io.Writer
}

// stack is the running set of stand-ins and functions.
type stack struct {
	opts      Options
	base      string // URL of the functions
	api       *storefront.Server
	gcs       *storage.Client
	wh        *duckdb.Warehouse
	whClosed  bool
	ps        *localPubSub
	transform *transform.Deferred
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

// Run runs the pipeline and returns its summary, also written as JSON to
// Dir/last-run.json.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	started := time.Now()
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Env == nil {
		opts.Env = config.Map(nil)
	}
	sum := &Summary{Dir: opts.Dir, LogFile: filepath.Join(opts.Dir, "logs", "functions.log")}
	st, err := start(ctx, opts, sum)
	if st != nil {
		defer st.close()
	}
	if err != nil {
		return nil, err
	}
	out := opts.Out

	// Cloud Scheduler: the daily batch.
	fmt.Fprintf(out, "Cloud Scheduler → %s\n", ingestbatch.FunctionName)
	stop := progress(out, "ingesting", st.api)
	err = callFunction(ctx, st.base+"/"+ingestbatch.FunctionName, &sum.Ingest)
	stop()
	if err != nil {
		return sum.failed(started, err)
	}

	// Eventarc: finalize events for every new raw generation.
	ea := &eventarc{
		bucket: st.gcs.Bucket(Bucket), name: Bucket, target: st.base + "/" + loadrawobject.FunctionName,
		statePath: statePath(opts.Dir), client: &http.Client{}, attempts: 5, backoff: 200 * time.Millisecond,
	}
	fmt.Fprintf(out, "Eventarc (Cloud Storage) → %s\n", loadrawobject.FunctionName)
	stop = progress(out, "loading", nil)
	sum.Deliveries, err = ea.deliverNew(ctx, lake.RawPrefix)
	stop()
	if err != nil {
		return sum.failed(started, err)
	}

	// Cloud Scheduler: the cart poller, then the push subscription until the
	// subscription is drained; again every PollEvery if asked.
	push := newPusher(st.ps, st.base+"/"+streamcartevents.FunctionName)
	for n := 1; ; n++ {
		report, err := st.pollAndStream(ctx, push)
		sum.Polls = append(sum.Polls, report)
		if err != nil {
			return sum.failed(started, err)
		}
		if opts.PollEvery <= 0 || (opts.Polls > 0 && n >= opts.Polls) {
			break
		}
		fmt.Fprintf(out, "  next poll in %s (Ctrl-C to stop)\n", opts.PollEvery)
		select {
		case <-ctx.Done():
		case <-time.After(opts.PollEvery):
		}
		if ctx.Err() != nil {
			break
		}
	}

	ctx = context.WithoutCancel(ctx)
	if err := sum.collect(ctx, st.wh); err != nil {
		return sum, err
	}
	if err := st.transforms(ctx, sum); err != nil {
		return sum.failed(started, err)
	}
	sum.finish(started)
	if err := sum.write(); err != nil {
		return sum, err
	}
	sum.Print(out)
	return sum, nil
}

// pollAndStream calls PollCarts and delivers what it published.
func (s *stack) pollAndStream(ctx context.Context, push *pusher) (PollReport, error) {
	out := s.opts.Out
	start := time.Now()
	var r PollReport
	fmt.Fprintf(out, "Cloud Scheduler → %s\n", pollcarts.FunctionName)
	if err := callFunction(ctx, s.base+"/"+pollcarts.FunctionName, &r.Poll); err != nil {
		return r, err
	}
	fmt.Fprintf(out, "  fetched %d carts: %d new, %d changed, %d deleted, %d unchanged; published %d events\n",
		r.Poll.Fetched, r.Poll.New, r.Poll.Changed, r.Poll.Deleted, r.Poll.Unchanged, r.Poll.Published)
	fmt.Fprintf(out, "Pub/Sub push (%s) → %s\n", Subscription, streamcartevents.FunctionName)
	idle := 500 * time.Millisecond
	if s.ps.Emulator != "" {
		idle = 2 * time.Second // the gcloud emulator answers pulls more slowly
	}
	before := push.snapshot()
	stats, err := push.drain(ctx, idle)
	r.Push = PushStats{
		Delivered: stats.Delivered - before.Delivered, Acked: stats.Acked - before.Acked,
		Nacked: stats.Nacked - before.Nacked, DeadLettered: stats.DeadLettered - before.DeadLettered,
	}
	r.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(out, "  delivered %d, acknowledged %d, redelivered %d, dead-lettered %d",
		r.Push.Delivered, r.Push.Acked, r.Push.Nacked, r.Push.DeadLettered)
	if r.Poll.Published > 0 {
		fmt.Fprintf(out, "; poll to warehouse %.1fs, %.0f events/s", r.Seconds, float64(r.Poll.Published)/r.Seconds)
	}
	fmt.Fprintln(out)
	return r, err
}

// transforms runs dbt once, after every load and stream has settled, when
// anything changed or a mart is missing; the warehouse is released first.
func (s *stack) transforms(ctx context.Context, sum *Summary) error {
	requested := s.transform.Take()
	dbt, err := findDBT(s.opts.DBT)
	if err != nil {
		sum.DBT = DBTReport{Status: "not configured", Reason: err.Error()}
		return nil
	}
	changed := len(requested) > 0
	for _, p := range sum.Polls {
		changed = changed || p.Push.Acked > 0
	}
	if !changed && martsExist(ctx, s.wh.DB()) {
		s.releaseWarehouse()
		sum.DBT = DBTReport{Status: "skipped", Reason: "no new data since the marts were built"}
	} else {
		s.releaseWarehouse()
		fmt.Fprintf(s.opts.Out, "dbt build (local target) …\n")
		sum.DBT, err = runDBT(ctx, dbt, s.opts.DBTProject, sum.Warehouse, s.opts.Dir)
		if err != nil {
			return err
		}
	}
	if sum.DBT.MartRows, sum.DBT.Revenue, err = countMarts(ctx, sum.Warehouse); err != nil {
		return err
	}
	sum.DBT.Freshness, err = checkFreshness(ctx, dbt, s.opts.DBTProject, sum.Warehouse, s.opts.Dir)
	return err
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
	fmt.Fprintf(out, "lake:      gs://%s on fake-gcs-server (%s)\n", Bucket, filepath.Join(opts.Dir, "gcs"))

	dbPath := filepath.Join(opts.Dir, "warehouse.duckdb")
	st.wh, err = duckdb.Open(ctx, duckdb.Config{Path: dbPath, Dataset: RawDataset}, gcsObjects{st.gcs})
	if err != nil {
		if strings.Contains(err.Error(), "lock") {
			return st, fmt.Errorf("%s is open in another process (close any duckdb shell or BI tool using it): %w", dbPath, err)
		}
		return st, err
	}
	st.closers = append(st.closers, st.releaseWarehouse)
	sum.Warehouse = dbPath
	fmt.Fprintf(out, "warehouse: DuckDB %s\n", dbPath)

	emulator := envOr(opts.Env, "PUBSUB_EMULATOR_HOST", "")
	st.ps, err = startPubSub(ctx, emulator)
	if err != nil {
		return st, err
	}
	st.closers = append(st.closers, st.ps.close)
	if emulator != "" {
		fmt.Fprintf(out, "pubsub:    gcloud emulator at %s\n", emulator)
	} else {
		fmt.Fprintf(out, "pubsub:    pstest in-process\n")
	}

	if err := st.register(ctx, baseURL, logger); err != nil {
		return st, err
	}
	st.base, err = serveOn(ctx, addr, opts.Port == 0)
	if err != nil {
		return st, err
	}
	fmt.Fprintf(out, "functions: %s/{%s,%s,%s,%s} (functions-framework-go; logs in %s)\n\n", st.base,
		ingestbatch.FunctionName, loadrawobject.FunctionName, pollcarts.FunctionName, streamcartevents.FunctionName, sum.LogFile)
	return st, nil
}

// startSource serves the built-in API, or checks the external one.
func (st *stack) startSource(ctx context.Context, sum *Summary) (string, error) {
	opts := st.opts
	if opts.SourceBaseURL != "" {
		if err := preflight(ctx, opts.SourceBaseURL); err != nil {
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("start storefront API: %w", err)
	}
	srv := &http.Server{Handler: st.api, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	st.closers = append(st.closers, func() { srv.Close() })
	sum.Source = desc
	return "http://" + l.Addr().String(), nil
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
	if err := st.gcs.Bucket(Bucket).Create(ctx, ProjectID, nil); err != nil && !isConflict(err) {
		return fmt.Errorf("create bucket %s: %w", Bucket, err)
	}
	return nil
}

// register builds the four functions with local adapters, configured as
// they are in the cloud, and registers them with functions-framework.
func (st *stack) register(ctx context.Context, baseURL string, logger *slog.Logger) error {
	env := map[string]string{
		"PROJECT_ID": ProjectID, "RAW_BUCKET": Bucket, "BQ_RAW_DATASET": RawDataset,
		"SOURCE_BASE_URL": baseURL, "CART_EVENTS_TOPIC": Topic, "CART_STATE_OBJECT": StateObject,
	}
	for _, k := range []string{"SOURCE_API_KEY", "SOURCE_API_KEY_HEADER", "SOURCE_TIMEOUT", "SOURCE_MAX_RETRIES",
		"SOURCE_RATE_LIMIT", "SOURCE_MAX_RESPONSE_BYTES", "LOG_LEVEL", "CARTS_WINDOW_DAYS", "INSERT_BATCH_ROWS", "INSERT_BATCH_DELAY"} {
		if v, ok := st.opts.Env(k); ok {
			env[k] = v
		}
	}
	lookup := config.Map(env)
	lw, err := lake.NewWriter(lake.Config{Bucket: Bucket}, st.gcs)
	if err != nil {
		return err
	}

	ingestCfg, err := ingestbatch.LoadConfig(lookup)
	if err != nil {
		return err
	}
	src, err := source.New(ingestCfg.Source, nil)
	if err != nil {
		return err
	}
	ingest, err := ingestbatch.New(ingestCfg, ingestbatch.Deps{Source: src, Lake: lw, Runs: st.wh, Logger: logger})
	if err != nil {
		return err
	}

	loadCfg, err := loadrawobject.LoadConfig(lookup)
	if err != nil {
		return err
	}
	st.transform = &transform.Deferred{Logger: logger}
	load, err := loadrawobject.New(loadCfg, loadrawobject.Deps{Warehouse: st.wh, Logger: logger, Transform: st.transform})
	if err != nil {
		return err
	}

	pollCfg, err := pollcarts.LoadConfig(lookup)
	if err != nil {
		return err
	}
	pub := events.NewPublisher(st.ps.client, pollCfg.Topic)
	st.closers = append(st.closers, pub.Stop)
	poll, err := pollcarts.New(pollCfg, pollcarts.Deps{
		Source: src, State: state.NewStore(st.gcs.Bucket(Bucket), pollCfg.StateObject),
		Publisher: pub, Lake: lw, Runs: st.wh, Logger: logger,
	})
	if err != nil {
		return err
	}

	streamCfg, err := streamcartevents.LoadConfig(lookup)
	if err != nil {
		return err
	}
	stream, err := streamcartevents.New(streamCfg, streamcartevents.Deps{Warehouse: st.wh, Logger: logger})
	if err != nil {
		return err
	}

	functions.HTTP(ingestbatch.FunctionName, ingest.ServeHTTP)
	functions.HTTP(loadrawobject.FunctionName, load.ServeHTTP) // see package cehttp
	functions.HTTP(pollcarts.FunctionName, poll.ServeHTTP)
	functions.HTTP(streamcartevents.FunctionName, stream.ServeHTTP)
	return nil
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

// serveOn serves the functions on addr. With anyPort, a port taken since it
// was found free (by a parallel test, an emulator) is replaced by another.
func serveOn(ctx context.Context, addr string, anyPort bool) (string, error) {
	if !anyPort {
		return serve(ctx, addr)
	}
	var base string
	_, err := onFreePort(func(addr string) (err error) {
		base, err = serve(ctx, addr)
		return err
	})
	return base, err
}

// onFreePort calls start with a free address on 127.0.0.1 and, while that
// address was taken between finding it free and start binding it (by a
// parallel test, an emulator), with another: five attempts at most. It
// returns the address start succeeded on.
func onFreePort(start func(addr string) error) (string, error) {
	var addr string
	var err error = syscall.EADDRINUSE
	for try := 0; try < 5 && errors.Is(err, syscall.EADDRINUSE); try++ {
		if addr, err = reservePort(0); err != nil {
			return "", err
		}
		err = start(addr)
	}
	return addr, err
}

// serve starts functions-framework on addr and waits until it answers.
func serve(ctx context.Context, addr string) (string, error) {
	host, port, _ := net.SplitHostPort(addr)
	errc := make(chan error, 1)
	go func() { errc <- funcframework.StartHostPort(host, port) }()
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
			return "http://" + addr, nil
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

// callFunction calls an HTTP function as Cloud Scheduler does and decodes
// its JSON summary into v; a non-200 answer is an error naming what failed.
func callFunction(ctx context.Context, url string, v any) error {
	name := url[strings.LastIndexByte(url, '/')+1:]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Google-Cloud-Scheduler")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("call %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	decodeErr := json.Unmarshal(body, v)
	if resp.StatusCode != http.StatusOK || decodeErr != nil {
		return fmt.Errorf("%s answered HTTP %d: %s", name, resp.StatusCode, errorDetail(body))
	}
	return nil
}

// errorDetail picks the most specific error out of a function's response.
func errorDetail(body []byte) string {
	var v struct {
		Error    string `json:"error"`
		Entities []struct {
			Entity, Error string
		} `json:"entities"`
	}
	if json.Unmarshal(body, &v) == nil {
		for _, e := range v.Entities {
			if e.Error != "" {
				return e.Entity + ": " + e.Error
			}
		}
		if v.Error != "" {
			return v.Error
		}
	}
	return strings.TrimSpace(string(body))
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
