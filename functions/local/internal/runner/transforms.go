package runner

import (
	"context"
	"fmt"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// transforms runs dbt once, after every load and stream has settled, when
// the marts are behind the raw tables: a mart is missing, the last build did
// not succeed (failed, or was interrupted), or the raw tables or the dbt
// project changed since the build that succeeded (see dbtrun.Decide). The
// warehouse is released first.
func (ph *phases) transforms(ctx context.Context) error {
	st, sum, opts := ph.st, ph.sum, ph.opts
	dbt, err := dbtrun.Find(opts.DBT)
	if err != nil {
		sum.DBT = dbtrun.Report{Status: "not configured", Reason: err.Error()}
		return nil
	}
	marks, err := dbtrun.RawMarks(ctx, st.Warehouse().DB())
	if err != nil {
		return err
	}
	last, err := dbtrun.ReadState(opts.Dir)
	if err != nil {
		return err
	}
	project, err := dbtrun.ProjectMark(opts.DBTProject)
	if err != nil {
		return err
	}
	d := dbtrun.Decide(last, project, marks, dbtrun.MartsExist(ctx, st.Warehouse().DB()))
	var args []string
	if d.FullRefresh {
		args = []string{"--full-refresh"}
	}
	reason, builtBy := d.Reason, d.BuiltBy
	st.ReleaseWarehouse()
	if reason == "" {
		sum.DBT = dbtrun.Report{Status: "skipped", Reason: "the marts are up to date with the raw tables (" + marks + ") and the dbt project"}
	} else {
		fmt.Fprintf(opts.Out, "dbt build (local target): %s …\n", reason)
		if err := dbtrun.WriteState(opts.Dir, dbtrun.State{Status: dbtrun.StatusStarted, Raw: marks, Project: builtBy}); err != nil {
			return err
		}
		sum.DBT, err = dbtrun.Build(ctx, dbt, opts.DBTProject, sum.Warehouse, opts.Dir, opts.Out, args...)
		sum.DBT.Reason = reason
		built := dbtrun.State{Status: warehouse.StatusSucceeded, Raw: marks, Project: project}
		if err != nil {
			built.Status, built.Project = warehouse.StatusFailed, builtBy
		}
		if serr := dbtrun.WriteState(opts.Dir, built); serr != nil && err == nil {
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
		if sum.DBT.Metrics, err = dbtrun.QueryHeadline(ctx, dbt, opts.DBTProject, opts.Dir, sum.Warehouse); err != nil {
			return err
		}
	}
	sum.DBT.Freshness, err = dbtrun.CheckFreshness(ctx, dbt, opts.DBTProject, sum.Warehouse, opts.Dir)
	return err
}
