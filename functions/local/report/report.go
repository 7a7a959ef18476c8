// Package report draws the report of the local pipeline's runs: one
// self-contained HTML page (inline CSS and SVG charts drawn by html/template;
// no script, no font and nothing else fetched from the network) that shows
// the health of every raw table and mart, the last runs as a timeline of
// their phases, rows per entity per run against a band of usual volume,
// rejects by reason, schema drift, dbt's tests and the marts at a glance.
//
// The page holds counts, names of fields and rules, product titles and
// dates; never a record's contents.
package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/shoplake/shoplake/shared/drift"
)

// Health statuses.
const (
	Fresh  = "fresh"
	Stale  = "stale"
	Failed = "failed"
	Empty  = "empty"
)

// Page is everything the report shows.
type Page struct {
	Generated time.Time
	Dir       string
	// Health is one line per raw table and mart.
	Health []Health
	// Runs are the kept runs, oldest first.
	Runs []Run
	// Rejects are the latest run's rejected records by entity and reason,
	// and the dead-letter table's by reason.
	Rejects []Reject
	// Drift is the latest run's schema drift per entity.
	Drift map[string]drift.Report
	// Tests counts the latest build's dbt tests by status; FailedTests names
	// those that did not pass.
	Tests       map[string]int
	FailedTests []string
	// Days are orders and revenue per order date (the latest ones), and
	// TopProducts the products with the most revenue.
	Days        []Day
	TopProducts []Product
	// Functions counts the invocations in bq_raw.pipeline_runs.
	Functions []Function
	// Metrics are the semantic layer's headline figures after the latest
	// build: what a BI tool gets from the same definitions.
	Metrics []Metric
}

// Metric is one figure of the semantic layer.
type Metric struct {
	Label, Value, Description string
}

// Health is the state of one raw table or mart.
type Health struct {
	Name string
	// Kind is "raw" or "mart".
	Kind   string
	Status string
	Rows   int64
	// Age is how old its newest data is; Threshold the age at which it is
	// stale (0: none).
	Age, Threshold time.Duration
	Note           string
}

// Run is one local run.
type Run struct {
	Started time.Time
	// Source is the kind of store the run read (fakestore, shopify,
	// woocommerce).
	Source  string
	Seconds float64
	Status  string
	Error   string
	Phases  []Phase
	// Rows counts what the run read per entity (FakeStore: products, users,
	// carts; other stores: products, customers, orders) and the cart events
	// it delivered.
	Rows map[string]int64
}

// Phase is one step of a run.
type Phase struct {
	Name           string
	Start, Seconds float64
	Failed         bool
}

// Reject counts rejected records of one kind of reason.
type Reject struct {
	Entity, Reason string
	Count          int64
}

// Day is one order date of fact_orders.
type Day struct {
	Date    time.Time
	Orders  int64
	Revenue float64
}

// Product is one product's revenue in fact_order_items.
type Product struct {
	Title   string
	Revenue float64
	Units   int64
}

// Function is one function's invocations in pipeline_runs.
type Function struct {
	Name                string
	Runs, Failed        int64
	LastStatus          string
	LastRun             time.Time
	RecordsIn, Rejected int64
}

//go:embed report.html.tmpl
var files embed.FS

var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"dur":   roundDuration,
	"list":  func(s ...string) []string { return s },
	"num":   number,
	"money": func(f float64) string { return number(int64(math.Round(f))) },
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"pct":   func(a, b int64) string { return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(max(b, 1))) },
}).ParseFS(files, "report.html.tmpl"))

// view is what the template reads: the page and its charts.
type view struct {
	Page
	Latest   *Run
	Newest   []Run // the runs, latest first
	Timeline Chart
	Volumes  []Chart
	Orders   Chart
	Revenue  Chart
	Top      Chart
	Entities []string
}

// Render writes the page as HTML.
func Render(w io.Writer, p Page) error {
	v := view{Page: p, Timeline: timeline(p.Runs), Orders: orderBars(p.Days), Revenue: revenueLine(p.Days), Top: topBars(p.TopProducts)}
	if n := len(p.Runs); n > 0 {
		v.Latest = &p.Runs[n-1]
	}
	v.Newest = slices.Clone(p.Runs)
	slices.Reverse(v.Newest)
	for _, e := range entities(p.Runs) {
		v.Volumes = append(v.Volumes, volume(e, p.Runs))
	}
	for e := range p.Drift {
		v.Entities = append(v.Entities, e)
	}
	sort.Strings(v.Entities)
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}

// entities are the row series the runs have, in a fixed order.
func entities(runs []Run) []string {
	seen := map[string]bool{}
	for _, r := range runs {
		for e := range r.Rows {
			seen[e] = true
		}
	}
	var out, others []string
	for _, e := range []string{"products", "users", "customers", "carts", "orders", "cart events"} {
		if seen[e] {
			out = append(out, e)
			delete(seen, e)
		}
	}
	for e := range seen {
		others = append(others, e)
	}
	slices.Sort(others)
	return append(out, others...)
}

func roundDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%.1fd", d.Hours()/24)
}

// number writes n with thousands separators.
func number(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
