package summary

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/report"
	"github.com/shoplake/shoplake/shared/schema"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// fromWarehouse fills the health, dead-letter rejects, function invocations
// and the marts at a glance.
func fromWarehouse(ctx context.Context, db *sql.DB, dir string, latest, checked *Summary, now time.Time, p *report.Page) error {
	c := &counter{ctx: ctx, db: db}
	stale, strictest := rawHealths(c, checked, now, p)
	built, err := martHealths(c, dir, stale, strictest, now, p)
	if err != nil {
		return err
	}
	if c.err != nil {
		return c.err
	}
	if latest != nil {
		if err := deadLetters(ctx, db, latest.StartedAt, p); err != nil {
			return err
		}
	}
	if err := invocations(ctx, db, p); err != nil {
		return err
	}
	if !built["fact_order_items"] {
		return nil // no marts yet
	}
	return martsAtAGlance(ctx, db, p)
}

// counter counts tables' rows, keeping the first failure other than a
// table that is not there: that one is not built yet, but any other (a
// locked or damaged warehouse) is the report's error, not an empty mart.
type counter struct {
	ctx context.Context
	db  *sql.DB
	err error
}

// count is a table's rows, and whether it exists.
func (c *counter) count(table string) (int64, bool) {
	schema, name, _ := strings.Cut(table, ".")
	var n int64
	err := c.db.QueryRowContext(c.ctx, "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", schema, name).Scan(&n)
	if err == nil && n > 0 {
		err = c.db.QueryRowContext(c.ctx, "select count(*) from "+table).Scan(&n)
		if err == nil {
			return n, true
		}
	}
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("count the rows of %s: %w", table, err)
	}
	return 0, false
}

// rawHealths adds the raw tables' health, dbt's freshness verdict against
// the sources' thresholds as of the run that checked it, and says whether
// one is stale and the strictest threshold.
func rawHealths(c *counter, checked *Summary, now time.Time, p *report.Page) (stale bool, strictest time.Duration) {
	if checked == nil {
		return false, 0
	}
	checkedAt := checked.StartedAt.Add(seconds(checked.Seconds)) // the check ends its run
	for _, f := range checked.DBT.Freshness {
		rows, _ := c.count(f.Source)
		h := rawHealth(f, checkedAt, now, rows)
		stale = stale || h.Status == report.Stale
		if h.Threshold > 0 && (strictest == 0 || h.Threshold < strictest) {
			strictest = h.Threshold
		}
		p.Health = append(p.Health, h)
	}
	return stale, strictest
}

// martHealths adds the marts' health: the last build's outcome, their rows
// and their sources; it says which marts exist.
func martHealths(c *counter, dir string, stale bool, strictest time.Duration, now time.Time, p *report.Page) (map[string]bool, error) {
	build, err := dbtrun.ReadState(dir)
	if err != nil {
		return nil, err
	}
	var builtAt time.Time
	if st, err := os.Stat(dbtrun.StatePath(dir)); err == nil && build.Status == warehouse.StatusSucceeded {
		builtAt = st.ModTime()
	}
	built := map[string]bool{}
	for _, m := range dbtrun.Marts {
		rows, exists := c.count("bq_analytics." + m)
		built[m] = exists
		h := martHealth("bq_analytics."+m, build.Status, rows, exists, stale)
		h.Threshold = strictest
		if !builtAt.IsZero() {
			h.Age = now.Sub(builtAt)
		}
		p.Health = append(p.Health, h)
	}
	return built, nil
}

// deadLetters adds the dead-letter table's events since the latest run
// began, by reason (without the line of a batch), each rejected event
// counted once however often its message was redelivered.
func deadLetters(ctx context.Context, db *sql.DB, since time.Time, p *report.Page) error {
	err := query(ctx, db, `select regexp_replace(reason, '^line [0-9]+: ', '') as kind,
			count(distinct message_id || '#' || coalesce(event_index, 0))
		from `+names.Raw(schema.CartEventsRejected)+`
		where received_at >= ? group by kind`,
		func(rows *sql.Rows) error {
			r := report.Reject{Entity: "cart events"}
			if err := rows.Scan(&r.Reason, &r.Count); err != nil {
				return err
			}
			p.Rejects = append(p.Rejects, r)
			return nil
		}, since)
	if err != nil {
		return fmt.Errorf("read rejected events: %w", err)
	}
	return nil
}

// invocations adds each function's runs from pipeline_runs.
func invocations(ctx context.Context, db *sql.DB, p *report.Page) error {
	err := query(ctx, db, `select function_name, count(*), count(*) filter (where status = 'failed'),
			arg_max(status, started_at), max(started_at), sum(records_in), sum(records_rejected)
		from `+names.Raw(schema.PipelineRuns)+` group by function_name order by function_name`,
		func(rows *sql.Rows) error {
			var f report.Function
			if err := rows.Scan(&f.Name, &f.Runs, &f.Failed, &f.LastStatus, &f.LastRun, &f.RecordsIn, &f.Rejected); err != nil {
				return err
			}
			p.Functions = append(p.Functions, f)
			return nil
		})
	if err != nil {
		return fmt.Errorf("read pipeline runs: %w", err)
	}
	return nil
}

// martsAtAGlance adds the orders and revenue of the last 60 order days and
// the ten products that earned most.
func martsAtAGlance(ctx context.Context, db *sql.DB, p *report.Page) error {
	if err := query(ctx, db, `select * from (
			select order_date, count(*), coalesce(sum(revenue), 0)::double
			from bq_analytics.fact_orders where not is_deleted
			group by order_date order by order_date desc limit 60
		) order by 1`,
		func(rows *sql.Rows) error {
			var d report.Day
			if err := rows.Scan(&d.Date, &d.Orders, &d.Revenue); err != nil {
				return err
			}
			p.Days = append(p.Days, d)
			return nil
		}); err != nil {
		return fmt.Errorf("read orders per day: %w", err)
	}
	// A product no catalogue snapshot has listed yet has no title and its
	// lines no revenue (dim_products.is_inferred).
	if err := query(ctx, db, `select coalesce(p.product_title, 'product ' || p.product_id || ' (not in the catalogue yet)', 'product ' || i.product_key),
			coalesce(sum(i.line_revenue), 0)::double, sum(i.quantity)
		from bq_analytics.fact_order_items i left join bq_analytics.dim_products p using (product_key)
		where not i.is_deleted and not i.is_removed
		group by 1 order by 2 desc, 1 limit 10`,
		func(rows *sql.Rows) error {
			var pr report.Product
			if err := rows.Scan(&pr.Title, &pr.Revenue, &pr.Units); err != nil {
				return err
			}
			pr.Title = strings.TrimSpace(pr.Title)
			p.TopProducts = append(p.TopProducts, pr)
			return nil
		}); err != nil {
		return fmt.Errorf("read top products: %w", err)
	}
	return nil
}

// rawHealth is one raw table's health: dbt's freshness verdict, given when
// the check ended at checkedAt, and its age now against the source's
// threshold (a table dbt found fresh may have aged past it since).
func rawHealth(f dbtrun.SourceFreshness, checkedAt, now time.Time, rows int64) report.Health {
	h := report.Health{Name: f.Source, Kind: "raw", Rows: rows,
		Age: seconds(f.AgeSeconds) + now.Sub(checkedAt), Threshold: seconds(f.WarnAfter)}
	switch f.Status {
	case "pass":
		h.Status = report.Fresh
		if h.Threshold > 0 && h.Age > h.Threshold {
			h.Status, h.Note = report.Stale, "older than its threshold since the last check"
		}
	case "warn", "error":
		h.Status, h.Note = report.Stale, "dbt source freshness: "+f.Status
	case dbtrun.FreshnessEmpty:
		h.Status, h.Age = report.Empty, 0
	default:
		h.Status, h.Note = report.Failed, "dbt source freshness: "+f.Status
	}
	return h
}

// martHealth is one mart's health: failed when the last dbt build did not
// succeed, empty when it has no rows or was never built, stale when a raw
// table is, else fresh.
func martHealth(name, buildStatus string, rows int64, exists, rawStale bool) report.Health {
	h := report.Health{Name: name, Kind: "mart", Rows: rows}
	switch {
	case buildStatus != "" && buildStatus != warehouse.StatusSucceeded:
		h.Status, h.Note = report.Failed, "the last dbt build "+buildStatus
	case !exists:
		h.Status, h.Note = report.Empty, "not built yet"
	case rows == 0:
		h.Status = report.Empty
	case rawStale:
		h.Status, h.Note = report.Stale, "a raw source is stale"
	default:
		h.Status = report.Fresh
	}
	return h
}
