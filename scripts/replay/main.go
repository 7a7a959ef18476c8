// Command replay refills BigQuery's raw tables from the lake, the complete
// record of what the pipeline took in: every daily snapshot under
// raw/<entity>/ is loaded again into its day's partition, and every cart
// event the cart-events-archive subscription wrote under raw/cart_events/ is
// inserted again into bq_raw.cart_events. Use it after a raw table was lost
// or damaged, or before rebuilding the marts of a changed model; then run the
// dbt job with --full-refresh (README, "Replay the warehouse from the lake").
//
//	go run ./scripts/replay --project P --bucket B [--dataset bq_raw] [--location US] [--what all|snapshots|events]
//
// It runs with the caller's Application Default Credentials. A replay is safe
// to repeat: snapshot loads replace their partitions, and replayed events
// already in bq_raw.cart_events are duplicates the staging models drop by
// event_id.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/shared/replay"
	"github.com/shoplake/shoplake/shared/warehouse/bigquery"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, openCloud))
}

// options are the command's flags.
type options struct {
	Project, Bucket, Dataset, Location, What string
}

// target is where a replay reads and writes.
type target struct {
	bucket *storage.BucketHandle
	wh     replay.Warehouse
	close  func()
}

// openCloud opens the raw bucket and BigQuery with the caller's credentials.
func openCloud(ctx context.Context, o options) (target, error) {
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return target{}, fmt.Errorf("storage client: %w", err)
	}
	wh, err := bigquery.Open(ctx, bigquery.Config{ProjectID: o.Project, Dataset: o.Dataset, Location: o.Location})
	if err != nil {
		gcs.Close()
		return target{}, err
	}
	return target{bucket: gcs.Bucket(o.Bucket), wh: wh, close: func() { gcs.Close() }}, nil
}

// run replays and returns the exit code: 0 done, 1 failed, 2 misused.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, open func(context.Context, options) (target, error)) int {
	var o options
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Project, "project", os.Getenv("GOOGLE_CLOUD_PROJECT"), "project of the warehouse (default $GOOGLE_CLOUD_PROJECT)")
	fs.StringVar(&o.Bucket, "bucket", "", "the raw bucket (terraform output raw_bucket)")
	fs.StringVar(&o.Dataset, "dataset", "bq_raw", "the raw dataset")
	fs.StringVar(&o.Location, "location", "US", "the datasets' location (var.bq_location)")
	fs.StringVar(&o.What, "what", "all", "what to replay: all, snapshots or events")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Project == "" || o.Bucket == "" {
		fmt.Fprintln(stderr, "replay: --project and --bucket are required")
		return 2
	}
	snapshots, events := o.What == "all" || o.What == "snapshots", o.What == "all" || o.What == "events"
	if !snapshots && !events {
		fmt.Fprintf(stderr, "replay: --what %q: want all, snapshots or events\n", o.What)
		return 2
	}
	t, err := open(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return 1
	}
	defer t.close()
	if err := replayLake(ctx, o, t, snapshots, events, stdout); err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return 1
	}
	return 0
}

// replayLake runs the replay and prints its progress: objects done of all,
// rows and events so far, the rate and the time left.
func replayLake(ctx context.Context, o options, t target, snapshots, events bool, out io.Writer) error {
	start := time.Now()
	runID := "replay-" + start.UTC().Format("20060102T150405Z")
	var archived int
	last := time.Time{}
	progress := func(res replay.Result) {
		if time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		secs := time.Since(start).Seconds()
		line := fmt.Sprintf("  … %d snapshots (%d rows), %d of %d archive objects (%d events, %d rejected)",
			res.Snapshots, res.Rows, res.ArchiveObjects, archived, res.Events, res.Rejected)
		if res.ArchiveObjects > 0 {
			left := time.Duration(float64(archived-res.ArchiveObjects) * secs / float64(res.ArchiveObjects) * float64(time.Second))
			line += fmt.Sprintf(", %.0f events/s, %s left", float64(res.Events+res.Rejected)/secs, left.Round(time.Second))
		}
		fmt.Fprintln(out, line)
	}
	r, err := replay.New(replay.Config{Bucket: o.Bucket, RunID: runID, Progress: progress}, t.bucket, t.wh)
	if err != nil {
		return err
	}
	if archived, err = r.ArchiveObjects(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "replay %s: gs://%s → %s.%s, %d archive objects of cart events\n", runID, o.Bucket, o.Project, o.Dataset, archived)
	if snapshots {
		if err := r.Snapshots(ctx); err != nil {
			return err
		}
	}
	if events {
		if err := r.Events(ctx); err != nil {
			return err
		}
	}
	res := r.Result()
	fmt.Fprintf(out, "replayed %d snapshots (%d rows, %d other objects under raw/ skipped) and %d archive objects (%d events, %d rejected) in %s\n",
		res.Snapshots, res.Rows, res.Skipped, res.ArchiveObjects, res.Events, res.Rejected, time.Since(start).Round(time.Second))
	fmt.Fprintln(out, "next: rebuild the marts with the dbt job and --full-refresh (README, \"Replay the warehouse from the lake\")")
	return nil
}
