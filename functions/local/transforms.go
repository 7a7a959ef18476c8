package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// transforms runs dbt once, after every load and stream has settled, when
// the marts are behind the raw tables: a mart is missing, the last build did
// not succeed (failed, or was interrupted), or the raw tables or the dbt
// project changed since the build that succeeded (see buildState). The
// warehouse is released first.
func (s *stack) transforms(ctx context.Context, sum *summary.Summary) error {
	dbt, err := dbtrun.Find(s.opts.DBT)
	if err != nil {
		sum.DBT = dbtrun.Report{Status: "not configured", Reason: err.Error()}
		return nil
	}
	marks, err := dbtrun.RawMarks(ctx, s.wh.DB())
	if err != nil {
		return err
	}
	last, err := dbtrun.ReadState(s.opts.Dir)
	if err != nil {
		return err
	}
	project, err := dbtrun.ProjectMark(s.opts.DBTProject)
	if err != nil {
		return err
	}
	d := dbtrun.Decide(last, project, marks, dbtrun.MartsExist(ctx, s.wh.DB()))
	var args []string
	if d.FullRefresh {
		args = []string{"--full-refresh"}
	}
	reason, builtBy := d.Reason, d.BuiltBy
	s.releaseWarehouse()
	if reason == "" {
		sum.DBT = dbtrun.Report{Status: "skipped", Reason: "the marts are up to date with the raw tables (" + marks + ") and the dbt project"}
	} else {
		fmt.Fprintf(s.opts.Out, "dbt build (local target): %s …\n", reason)
		if err := dbtrun.WriteState(s.opts.Dir, dbtrun.State{Status: dbtrun.StatusStarted, Raw: marks, Project: builtBy}); err != nil {
			return err
		}
		sum.DBT, err = dbtrun.Build(ctx, dbt, s.opts.DBTProject, sum.Warehouse, s.opts.Dir, s.opts.Out, args...)
		sum.DBT.Reason = reason
		st := dbtrun.State{Status: warehouse.StatusSucceeded, Raw: marks, Project: project}
		if err != nil {
			st.Status, st.Project = warehouse.StatusFailed, builtBy
		}
		if serr := dbtrun.WriteState(s.opts.Dir, st); serr != nil && err == nil {
			err = serr
		}
		if err != nil {
			return err
		}
	}
	if err := dbtrun.CountMarts(ctx, sum.Warehouse, &sum.DBT); err != nil {
		return err
	}
	if sum.DBT.Status == "built" {
		if sum.DBT.Metrics, err = dbtrun.QueryHeadline(ctx, dbt, s.opts.DBTProject, s.opts.Dir, sum.Warehouse); err != nil {
			return err
		}
	}
	sum.DBT.Freshness, err = dbtrun.CheckFreshness(ctx, dbt, s.opts.DBTProject, sum.Warehouse, s.opts.Dir)
	return err
}

// deferredTransform is the local transform trigger that LoadRawObject is
// given instead of the Cloud Run job. It only logs the request: the runner
// decides after the loads of a burst have settled whether dbt must run, from
// the raw tables and the last build's outcome (see stack.transforms), and
// runs it once, with the warehouse file released.
type deferredTransform struct {
	logger *slog.Logger
}

// Start logs the request.
func (d deferredTransform) Start(ctx context.Context, reason string) error {
	d.logger.InfoContext(ctx, "transforms requested; the local runner runs dbt once the loads settle", "reason", reason)
	return nil
}
