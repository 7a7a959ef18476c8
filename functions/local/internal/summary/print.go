package summary

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/source/connect"
)

// Print writes the human-readable summary.
func (s *Summary) Print(out io.Writer) {
	s.printEntities(out)
	s.printStreaming(out)
	s.printWrites(out)
	s.printDrift(out)
	s.printRejects(out)
	s.printDBT(out)
	s.printFreshness(out)
	fmt.Fprintf(out, "Query the warehouse (any DuckDB 1.5 client): .venv/bin/python -c \"import duckdb; duckdb.connect('%s', read_only=True).sql('from bq_analytics.fact_orders').show()\"\n", s.Warehouse)
	s.printPhases(out)
	fmt.Fprintf(out, "Done in %.1fs; summary in %s\n", s.Seconds, s.Path())
}

// printEntities is the table of the day's snapshots.
func (s *Summary) printEntities(out io.Writer) {
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "entity\tfetched\tvalid\trejected\tloaded rows\ttable rows\tseconds\t")
	for _, e := range s.Entities {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.2f\t\n", e.Entity, e.Fetched, e.Valid, e.Rejected, e.LoadedRows, e.TableRows, e.Seconds)
	}
	tw.Flush()
	fmt.Fprintln(out)
}

// printStreaming says what the event tables hold and, for a FakeStore,
// how the live carts compare with PollCarts' state.
func (s *Summary) printStreaming(out io.Writer) {
	fmt.Fprintf(out, "cart_events: %d rows, %d distinct events; cart_events_rejected: %d rows\n",
		s.Streaming.CartEventRows, s.Streaming.DistinctEvents, s.Streaming.RejectedEvents)
	if s.storeKind() {
		return // a store's orders are followed from a cursor, not a state of carts
	}
	fmt.Fprintf(out, "carts: %d live in the warehouse, as PollCarts' state holds them", s.Carts.Live)
	if s.Carts.Quarantined > 0 {
		fmt.Fprintf(out, " (%d whose latest version was quarantined keep their earlier one)", s.Carts.Quarantined)
	}
	if s.Carts.Realigned {
		fmt.Fprint(out, "; the state was realigned with the warehouse before the poll (see above)")
	}
	fmt.Fprintln(out)
}

// printWrites names the snapshots written and the objects loaded.
func (s *Summary) printWrites(out io.Writer) {
	if s.NothingChanged {
		fmt.Fprintln(out, "Nothing changed: the source matches the snapshots already in the lake and the carts already published, so no object was rewritten, nothing was loaded and no event was published.")
		return
	}
	for _, e := range s.Entities {
		state := "new snapshot written"
		if e.Unchanged {
			state = "unchanged, not rewritten"
		}
		fmt.Fprintf(out, "%-9s %s: gs://%s/%s\n", e.Entity, state, names.Bucket, e.Object)
	}
	for _, d := range s.Deliveries {
		fmt.Fprintf(out, "loaded    %s (generation %d, %d attempt(s))\n", d.Object, d.Generation, d.Attempts)
	}
}

// printDrift names each entity whose records differ from the model.
func (s *Summary) printDrift(out io.Writer) {
	drifts := s.Drift()
	var entities []string
	for e, r := range drifts {
		if r.Drifted() {
			entities = append(entities, e)
		}
	}
	sort.Strings(entities)
	if len(drifts) > 0 && len(entities) == 0 {
		fmt.Fprintln(out, "schema drift: none (every field the source sent is one the model knows, and none is missing)")
	}
	for _, e := range entities {
		fmt.Fprintf(out, "schema drift %s: %s\n", e, drifts[e])
	}
}

// storeKind reports whether the run read a store as canonical records
// (Shopify, WooCommerce) rather than a FakeStore.
func (s *Summary) storeKind() bool { return connect.Canonical(s.SourceKind) }

// polled names what the run's polls read: carts, or a store's orders.
func (s *Summary) polled() string {
	if s.storeKind() {
		return "polled orders"
	}
	return "carts"
}

// printRejects says what each snapshot and the polls quarantined.
func (s *Summary) printRejects(out io.Writer) {
	for _, e := range s.Entities {
		if e.Rejected > 0 {
			fmt.Fprintln(out, s.rejectedLine(e.Entity, e.Rejected, e.RejectReasons))
		}
	}
	var polled int64
	reasons := map[string]int64{}
	for _, p := range s.Polls {
		polled += p.Poll.Rejected
		for kind, n := range p.Poll.RejectReasons {
			reasons[kind] += n
		}
	}
	entity := model.Carts.Name
	if s.storeKind() {
		entity = model.CanonicalOrders // a store's poll quarantines its orders
	}
	if polled > 0 {
		fmt.Fprintln(out, s.rejectedLine(entity, polled, reasons))
	}
}

// printDBT says how dbt ended and what the marts and metrics hold.
func (s *Summary) printDBT(out io.Writer) {
	switch d := s.DBT; d.Status {
	case "built":
		fmt.Fprintf(out, "dbt build (local): %s in %.1fs (log %s)\n", d.Result, d.Seconds, d.LogFile)
	default:
		fmt.Fprintf(out, "dbt: %s: %s\n", d.Status, d.Reason)
	}
	if len(s.DBT.MartRows) == 0 {
		return
	}
	fmt.Fprintf(out, "marts (bq_analytics):")
	for _, m := range dbtrun.Marts {
		fmt.Fprintf(out, " %s %d,", m, s.DBT.MartRows[m])
	}
	fmt.Fprintf(out, " revenue of live orders %s\n", s.DBT.Revenue)
	if len(s.DBT.Metrics) > 0 {
		figures := make([]string, len(s.DBT.Metrics))
		for i, m := range s.DBT.Metrics {
			figures[i] = m.Label + " " + m.Value
		}
		fmt.Fprintf(out, "metrics (semantic layer): %s\n", strings.Join(figures, ", "))
	}
	if n := s.DBT.UnpricedLines; n > 0 {
		fmt.Fprintf(out, "unpriced  %d line(s) of live orders: their product is in no catalogue snapshot yet (dim_products.is_inferred), so the revenue above leaves them out; the order is priced again once a snapshot lists the product\n", n)
	}
}

// printFreshness is dbt's source freshness, one source after another.
func (s *Summary) printFreshness(out io.Writer) {
	if len(s.DBT.Freshness) == 0 {
		return
	}
	parts := make([]string, len(s.DBT.Freshness))
	for i, f := range s.DBT.Freshness {
		parts[i] = fmt.Sprintf("%s %s (%s old)", f.Source, f.Status, seconds(f.AgeSeconds).Round(time.Second))
		if f.Status == dbtrun.FreshnessEmpty {
			parts[i] = f.Source + " empty"
		}
	}
	fmt.Fprintf(out, "source freshness: %s\n", strings.Join(parts, ", "))
}

// printPhases is each phase's time and peak memory.
func (s *Summary) printPhases(out io.Writer) {
	if len(s.Phases) == 0 {
		return
	}
	parts := make([]string, len(s.Phases))
	for i, p := range s.Phases {
		parts[i] = fmt.Sprintf("%s %.1fs", p.Name, p.Seconds)
		if p.PeakRSS > 0 {
			parts[i] += fmt.Sprintf(" %d MiB", p.PeakRSS>>20)
		}
	}
	fmt.Fprintf(out, "phases (time, peak memory): %s\n", strings.Join(parts, ", "))
}

// rejectedLine says how many records of an entity were quarantined, for
// which reasons (the three most frequent kinds), and where they are.
func (s *Summary) rejectedLine(entity string, n int64, reasons map[string]int64) string {
	line := fmt.Sprintf("rejected  %d %s record(s)", n, entity)
	if why := lake.TopReasons(reasons, 3, model.ReasonPrefixes(entity)...); why != "" {
		line += " (" + why + ")"
	}
	return fmt.Sprintf("%s: see gs://%s/rejects/%s/ (%s)", line, names.Bucket, entity, filepath.Join(s.Dir, "gcs", names.Bucket, "rejects", entity))
}
