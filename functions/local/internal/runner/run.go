package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoplake/shoplake/functions/ingestbatch"
	"github.com/shoplake/shoplake/functions/loadrawobject"
	"github.com/shoplake/shoplake/functions/local/internal/audit"
	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/progress"
	"github.com/shoplake/shoplake/functions/local/internal/rundir"
	"github.com/shoplake/shoplake/functions/local/internal/stack"
	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/source/connect"
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
	// SourceKind is the kind of store read (SOURCE_KIND): fakestore (the
	// default), shopify or woocommerce, each with a built-in stand-in.
	SourceKind string
	// SourceFault, when set, makes the built-in API misbehave (see
	// storefront.Fault, and stack.StoreFaults for the other kinds' stand-ins).
	SourceFault storefront.Fault
	// AllowShrink lets IngestBatch and PollCarts accept an empty or collapsed
	// listing (their allow_shrink request field).
	AllowShrink bool
	// Rebuild deletes the warehouse and rebuilds it from the lake (which a
	// run also does by itself when it finds the warehouse missing).
	Rebuild bool
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

// Run runs the pipeline and returns its summary, also written as JSON to
// Dir/last-run.json.
func Run(ctx context.Context, opts Options) (*summary.Summary, error) {
	started := time.Now()
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Env == nil {
		opts.Env = config.Map(nil)
	}
	lock, err := rundir.Take(opts.Dir)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	sum := &summary.Summary{Dir: opts.Dir, LogFile: filepath.Join(opts.Dir, "logs", "functions.log"), StartedAt: started.UTC(), SourceKind: opts.SourceKind}
	st, err := stack.Start(ctx, opts.stackConfig(), sum)
	if st != nil {
		defer st.Close()
	}
	if err != nil {
		return nil, err
	}
	ph := &phases{st: st, sum: sum, opts: opts, started: started}
	for _, phase := range []func(context.Context) error{ph.ingest, ph.load, ph.stream, ph.transform} {
		if err := phase(ctx); err != nil {
			return sum.Failed(started, err)
		}
		ctx = ph.ctx(ctx)
	}
	sum.Finish(started)
	if err := sum.Write(); err != nil {
		return sum, err
	}
	sum.Print(opts.Out)
	return sum, nil
}

// phases are the steps of one run, in order: the daily batch, its loads,
// the polls and their delivery, then dbt.
type phases struct {
	st      *stack.Stack
	sum     *summary.Summary
	opts    Options
	started time.Time
	// settled is set once the polls are done: what follows runs to its
	// end even if the run is interrupted.
	settled bool
}

// ctx is the context of the next phase: once the polls are done, the
// audits and dbt run to their end even if the run is interrupted.
func (ph *phases) ctx(ctx context.Context) context.Context {
	if ph.settled {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// ingest plays Cloud Scheduler calling IngestBatch: the daily batch.
func (ph *phases) ingest(ctx context.Context) error {
	st, opts, out := ph.st, ph.opts, ph.opts.Out
	fmt.Fprintf(out, "Cloud Scheduler → %s\n", ingestbatch.FunctionName)
	what, total := "ingesting products and users", 2*opts.Scale
	if opts.storeKind() {
		what, total = "ingesting the store's products, customers and orders", 3*opts.Scale
	}
	stop := progress.Records(out, what, st.Served(), total)
	defer stop()
	end := ph.sum.StartPhase("ingest")
	return end(callFunction(ctx, st.URL(ingestbatch.FunctionName), opts.request(), &ph.sum.Ingest))
}

// load plays Eventarc: a finalize event for every new raw generation,
// after repairing what the warehouse lost of the snapshots.
func (ph *phases) load(ctx context.Context) error {
	st, opts, out := ph.st, ph.opts, ph.opts.Out
	ea := emulation.NewEventarc(emulation.EventarcConfig{Bucket: st.Bucket(), BucketName: names.Bucket,
		Target: st.URL(loadrawobject.FunctionName), RecordPath: emulation.RecordPath(opts.Dir), Policy: emulation.EventarcRedelivery, Out: out})
	fmt.Fprintf(out, "Eventarc (Cloud Storage) → %s\n", loadrawobject.FunctionName)
	if err := audit.RepairSnapshots(ctx, st.Warehouse().DB(), st.Bucket(), ea, out); err != nil {
		return err
	}
	stop := progress.Every(out, 2*time.Second, "loading:", "objects", ea.Delivered, ea.Pending)
	defer stop()
	end := ph.sum.StartPhase("load")
	var err error
	ph.sum.Deliveries, err = ea.DeliverNew(ctx, lake.RawPrefix)
	return end(err)
}

// stream plays Cloud Scheduler calling PollCarts and the push subscription
// delivering to StreamCartEvents: the backlog first, then each poll (again
// every PollEvery if asked), and the cart ledger after.
func (ph *phases) stream(ctx context.Context) error {
	st, opts, out, sum := ph.st, ph.opts, ph.opts.Out, ph.sum
	defer st.LimitMemory()()
	push := st.Push()
	if err := ph.deliverBacklog(ctx, push); err != nil {
		return err
	}
	// With every earlier event delivered, what PollCarts remembers
	// publishing must be what the warehouse holds; where it is not, the
	// poll publishes the difference again.
	ledger := audit.NewLedger(st.Bucket(), st.Warehouse().DB())
	realigned, err := ledger.Realign(ctx, out)
	if err != nil {
		return err
	}
	for n := 1; ; n++ {
		report, err := ph.pollAndStream(ctx, push)
		sum.Polls = append(sum.Polls, report)
		if err != nil {
			return err
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
	ph.settled = true
	sum.Carts, err = ledger.Check(context.WithoutCancel(ctx), sum.DeadLettered())
	sum.Carts.Realigned = realigned.Realigned
	return err
}

// transform collects what the raw tables hold, then runs dbt when the
// marts are behind them.
func (ph *phases) transform(ctx context.Context) error {
	if err := ph.sum.Collect(ctx, ph.st.Warehouse()); err != nil {
		return err
	}
	end := ph.sum.StartPhase("dbt")
	return end(ph.transforms(ctx))
}

// stackConfig is the configuration of the run's stack of stand-ins.
func (o Options) stackConfig() stack.Config {
	return stack.Config{
		Dir: o.Dir, Port: o.Port, SourceBaseURL: o.SourceBaseURL, SourceKind: o.SourceKind,
		Scale: o.Scale, Changing: o.PollEvery > 0, SourceFault: o.SourceFault, Rebuild: o.Rebuild,
		Env: o.Env, Out: o.Out,
	}
}

// storeKind reports whether the run reads a store other than FakeStore,
// as canonical records whose orders PollCarts polls (connect.Canonical).
func (o Options) storeKind() bool { return connect.Canonical(o.SourceKind) }

// request is the body the scheduler jobs send to IngestBatch and PollCarts.
func (o Options) request() string {
	if o.AllowShrink {
		return `{"allow_shrink":true}`
	}
	return `{}`
}

// callFunction calls an HTTP function as Cloud Scheduler does, with body, and
// decodes its JSON summary into v; a non-200 answer is an error naming what
// failed.
func callFunction(ctx context.Context, url, body string, v any) error {
	name := url[strings.LastIndexByte(url, '/')+1:]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
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
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	decodeErr := json.Unmarshal(answer, v)
	if resp.StatusCode != http.StatusOK || decodeErr != nil {
		return fmt.Errorf("%s answered HTTP %d: %s", name, resp.StatusCode, errorDetail(answer))
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
