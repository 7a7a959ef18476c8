package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/emulation"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/progress"
	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/functions/pollcarts"
	"github.com/shoplake/shoplake/functions/streamcartevents"
	"github.com/shoplake/shoplake/shared/lake"
)

// deliverBacklog delivers the events an interrupted run published but did
// not deliver, before anything new is polled.
func (ph *phases) deliverBacklog(ctx context.Context, push emulation.Deliverer) error {
	st, sum, out := ph.st, ph.sum, ph.opts.Out
	// Only whether there is a backlog: the delivery counts it (and prints
	// how much) as it starts.
	backlog, err := st.PubSub().HasBacklog()
	if err != nil || !backlog {
		return err
	}
	fmt.Fprintf(out, "Pub/Sub push (%s) → %s: events published by an interrupted run, delivering them first\n",
		names.Subscription, streamcartevents.FunctionName)
	end := sum.StartPhase("backlog")
	stats, err := push.Drain(ctx)
	err = end(err)
	sum.Backlog = stats
	fmt.Fprintf(out, "  %s\n", stats)
	return err
}

// pollAndStream calls PollCarts and delivers what it published: while the
// poll runs when the deliverer can follow it, else after it.
func (ph *phases) pollAndStream(ctx context.Context, push emulation.Deliverer) (summary.PollReport, error) {
	st, sum, opts, out := ph.st, ph.sum, ph.opts, ph.opts.Out
	start := time.Now()
	var r summary.PollReport
	fmt.Fprintf(out, "Cloud Scheduler → %s; Pub/Sub push (%s) → %s, archived under gs://%s/%s\n",
		pollcarts.FunctionName, names.Subscription, streamcartevents.FunctionName, names.Bucket, lake.CartEventsArchivePrefix)
	type delivery struct {
		stats emulation.PushStats
		err   error
	}
	var (
		polled    = make(chan struct{})
		delivered chan delivery
		endPush   func(error) error
	)
	if f, ok := push.(emulation.Follower); ok {
		delivered = make(chan delivery, 1)
		endPush = sum.StartPhase("delivery")
		go func() {
			stats, err := f.Follow(ctx, polled)
			delivered <- delivery{stats, err}
		}()
	}
	what := "carts"
	if opts.storeKind() {
		what = "the store's orders"
	}
	stop := progress.Records(out, "polling "+what, st.Served(), opts.Scale)
	end := sum.StartPhase("poll")
	pollErr := end(callFunction(ctx, st.URL(pollcarts.FunctionName), opts.request(), &r.Poll))
	stop()
	close(polled)
	if pollErr == nil {
		since := ""
		if r.Poll.From != "" {
			since = " updated since " + r.Poll.From
		}
		fmt.Fprintf(out, "  fetched %d %s%s: %d new, %d changed, %d deleted, %d unchanged, %d rejected; published %d events\n",
			r.Poll.Fetched, strings.TrimPrefix(what, "the store's "), since, r.Poll.New, r.Poll.Changed, r.Poll.Deleted, r.Poll.Unchanged, r.Poll.Rejected, r.Poll.Published)
	}
	var err error
	if delivered != nil {
		// What the poll published before it failed is delivered too.
		d := <-delivered
		r.Push, err = d.stats, endPush(d.err)
	} else if pollErr == nil {
		end = sum.StartPhase("delivery")
		r.Push, err = push.Drain(ctx)
		err = end(err)
	}
	if pollErr != nil {
		return r, pollErr
	}
	r.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(out, "  %s", r.Push)
	if settled := r.Push.Events; settled > 0 {
		fmt.Fprintf(out, "; poll to warehouse %.1fs, %.0f events/s", r.Seconds, float64(settled)/r.Seconds)
	}
	fmt.Fprintln(out)
	if err == nil && r.Push.Events < r.Poll.Published {
		err = fmt.Errorf("%d events were published but only %d acknowledged or dead-lettered", r.Poll.Published, r.Push.Events)
	}
	return r, err
}
