// Command local is Shoplake's local wing: it runs the whole pipeline on one
// machine with no cloud account. A FakeStore-compatible server (the real
// snapshot, or synthetic data at any scale), fake-gcs-server in-process and
// persisted on disk, Pub/Sub in-process (pstest) or the gcloud emulator,
// DuckDB as the warehouse, and the four functions, built by the same Setup
// constructors as in the cloud and served by functions-framework-go. It plays
// Cloud Scheduler (calling IngestBatch and PollCarts), Eventarc (storage
// events to LoadRawObject) and the push subscription (Pub/Sub messages to
// StreamCartEvents), then runs dbt. It is what `make run` runs.
//
// Layout. This package holds the flags, the signals and one call of the
// runner. Below it, each package does one job and imports only packages
// below it (layers_test.go checks this):
//
//	functions/local (main)      flags, signals, runner.Run, the report
//	└── internal/runner         the phases of a run: ingest, load, poll and
//	    │                       stream, dbt; the audits between them
//	    └── internal/stack      the stand-ins started, the functions wired
//	        │                   (emulator hosts, functions registry)
//	        └── internal/summary  what a run did: summary, history, Print,
//	            │                 the report page's data
//	            └── internal/audit  cart ledger, damaged snapshots, rebuild
//	                │               from the lake
//	                ├── internal/emulation  Pub/Sub push, Eventarc, one
//	                │                       redelivery routine
//	                ├── internal/dbtrun     dbt build, freshness, build
//	                │                       state, Decide, metrics
//	                └── internal/queue      the disk backlog of cart events
//	                    └── internal/names, internal/progress, internal/rundir
//
// Beside them, report draws the HTML page, and storefront, shopifyapi and
// wooapi are the stores' stand-ins (shopifyapi and wooapi serve
// storefront's catalogue).
//
//	go run ./functions/local [--dir .local] [--port 8080] [--scale N] [--poll-every 1m [--polls N]]
//
// SOURCE_BASE_URL points it at an external FakeStore-compatible API instead of
// the built-in one; SOURCE_API_KEY and the other SOURCE_* variables apply as
// they do in the cloud. PUBSUB_EMULATOR_HOST uses a running gcloud Pub/Sub
// emulator instead of the in-process one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/runner"
	"github.com/shoplake/shoplake/functions/local/internal/stack"
	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/source/connect"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "shoplake: %v\n", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("shoplake-local", flag.ContinueOnError)
	fs.SetOutput(out)
	dir := fs.String("dir", ".local", "directory for the lake, the warehouse, logs and the run summary")
	port := fs.Int("port", 8080, "port of the functions on 127.0.0.1 (0 picks a free one)")
	scale := fs.Int64("scale", 0, "serve N deterministic synthetic records per entity instead of the FakeStore snapshot")
	pollEvery := fs.Duration("poll-every", 0, "keep polling carts at this interval (e.g. 1m) until Ctrl-C; with --scale, carts change between polls")
	polls := fs.Int("polls", 0, "with --poll-every, stop after this many polls (0: until Ctrl-C)")
	rebuild := fs.Bool("rebuild", false, "delete the warehouse and rebuild it from the lake (snapshots reloaded, archived cart events replayed, marts rebuilt)")
	dbt := fs.String("dbt", "", "dbt executable that builds the marts after the run (make run passes .venv/bin/dbt)")
	dbtProject := fs.String("dbt-project", "dbt", "the dbt project directory")
	kind := fs.String("source", connect.FakeStore, "kind of store to read: "+strings.Join(connect.Kinds, ", ")+"; each has a built-in stand-in holding the FakeStore snapshot (SOURCE_BASE_URL and SOURCE_API_KEY name a real one)")
	fault := fs.String("source-fault", "", "make the built-in API misbehave: "+storefront.FaultNames()+" (FakeStore); "+strings.Join(stack.StoreFaults[connect.Shopify], ", ")+" (shopify); "+strings.Join(stack.StoreFaults[connect.WooCommerce], ", ")+" (woocommerce)")
	allowShrink := fs.Bool("allow-shrink", false, "accept snapshots and cart listings that are empty or far smaller than the last ones (a real shrink, not an outage)")
	reportOnly := fs.Bool("report", false, "only draw the report of the runs kept in --dir (report.html) and print its path; run nothing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if !slices.Contains(connect.Kinds, *kind) {
		return fmt.Errorf("--source must be one of %s, got %q", strings.Join(connect.Kinds, ", "), *kind)
	}
	if *scale < 0 {
		return fmt.Errorf("--scale must be zero or more, got %d", *scale)
	}
	if *pollEvery < 0 || *polls < 0 {
		return errors.New("--poll-every and --polls must not be negative")
	}
	baseURL, _ := os.LookupEnv("SOURCE_BASE_URL")
	if baseURL != "" && *scale > 0 {
		return errors.New("--scale serves synthetic data from the built-in API; it cannot be combined with SOURCE_BASE_URL")
	}
	if baseURL != "" && *fault != "" {
		return errors.New("--source-fault applies to the built-in API; it cannot be combined with SOURCE_BASE_URL")
	}
	if *dbt != "" {
		if _, err := os.Stat(filepath.Join(*dbtProject, "dbt_project.yml")); err != nil {
			return fmt.Errorf("no dbt project in %s (no dbt_project.yml there): run from the repository root, as make run does, or name the project's directory with --dbt-project", *dbtProject)
		}
	}
	if *reportOnly {
		path, err := summary.WriteReport(ctx, *dir, time.Now())
		if err == nil {
			fmt.Fprintf(out, "report: %s\n", path)
		}
		return err
	}
	sum, err := runner.Run(ctx, runner.Options{
		Dir: *dir, Port: *port, SourceBaseURL: baseURL, Scale: *scale, PollEvery: *pollEvery, Polls: *polls, Rebuild: *rebuild,
		SourceKind: *kind, SourceFault: storefront.Fault(*fault), AllowShrink: *allowShrink,
		DBT: *dbt, DBTProject: *dbtProject,
		Env: config.Env(), Out: out,
	})
	if sum != nil { // a run that started, whatever its end, is in the report
		path, rerr := summary.WriteReport(context.WithoutCancel(ctx), *dir, time.Now())
		if rerr != nil {
			fmt.Fprintf(out, "report: not drawn: %v\n", rerr)
		} else {
			fmt.Fprintf(out, "report: %s\n", path)
		}
	}
	return err
}
