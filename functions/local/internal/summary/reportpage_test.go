package summary

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/report"
	"github.com/shoplake/shoplake/shared/warehouse"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

func TestRawHealth(t *testing.T) {
	t.Parallel()
	checked := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	twoHours := float64(2 * 3600)
	cases := []struct {
		name       string
		f          dbtrun.SourceFreshness
		now        time.Time
		wantStatus string
		wantAge    time.Duration
	}{
		{"fresh", dbtrun.SourceFreshness{Status: "pass", AgeSeconds: 60, WarnAfter: twoHours}, checked.Add(time.Minute), report.Fresh, 2 * time.Minute},
		{"aged past its threshold since the check", dbtrun.SourceFreshness{Status: "pass", AgeSeconds: 60, WarnAfter: twoHours}, checked.Add(3 * time.Hour), report.Stale, 3*time.Hour + time.Minute},
		{"no threshold never ages", dbtrun.SourceFreshness{Status: "pass", AgeSeconds: 60}, checked.Add(30 * 24 * time.Hour), report.Fresh, 30*24*time.Hour + time.Minute},
		{"dbt warned", dbtrun.SourceFreshness{Status: "warn", AgeSeconds: 3 * 3600, WarnAfter: twoHours}, checked, report.Stale, 3 * time.Hour},
		{"dbt errored", dbtrun.SourceFreshness{Status: "error", AgeSeconds: 30 * 3600, WarnAfter: twoHours}, checked, report.Stale, 30 * time.Hour},
		{"no rows", dbtrun.SourceFreshness{Status: dbtrun.FreshnessEmpty, WarnAfter: twoHours}, checked.Add(time.Hour), report.Empty, 0},
		{"the check failed", dbtrun.SourceFreshness{Status: "runtime error", WarnAfter: twoHours}, checked, report.Failed, 0},
	}
	for _, tc := range cases {
		h := rawHealth(tc.f, checked, tc.now, 5)
		if h.Status != tc.wantStatus || h.Age != tc.wantAge || h.Rows != 5 || h.Kind != "raw" {
			t.Errorf("%s: %+v, want %s aged %s", tc.name, h, tc.wantStatus, tc.wantAge)
		}
	}
}

func TestMartHealth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		build       string
		rows        int64
		exists, raw bool
		want        string
	}{
		{"built and fresh", warehouse.StatusSucceeded, 7, true, false, report.Fresh},
		{"a raw table is stale", warehouse.StatusSucceeded, 7, true, true, report.Stale},
		{"the last build failed, old rows kept", warehouse.StatusFailed, 7, true, false, report.Failed},
		{"a build was interrupted", "started", 7, true, false, report.Failed},
		{"never built", "", 0, false, false, report.Empty},
		{"built, no rows", warehouse.StatusSucceeded, 0, true, true, report.Empty},
	}
	for _, tc := range cases {
		if h := martHealth("bq_analytics.fact_orders", tc.build, tc.rows, tc.exists, tc.raw); h.Status != tc.want || h.Kind != "mart" {
			t.Errorf("%s: %+v, want %s", tc.name, h, tc.want)
		}
	}
}

// TestReportTellsABrokenMartFromAMissingOne: a mart that is not there is
// "not built yet"; a mart that is there but cannot be read fails the
// report, naming it, instead of passing for unbuilt.
func TestReportTellsABrokenMartFromAMissingOne(t *testing.T) {
	t.Parallel()
	for _, broken := range []bool{false, true} {
		dir := t.TempDir()
		wh, err := duckdb.Open(context.Background(), duckdb.Config{Path: names.Warehouse(dir), Dataset: names.RawDataset}, nil) // the raw tables
		if err != nil {
			t.Fatal(err)
		}
		db := wh.DB()
		stmts := []string{"create schema bq_analytics"}
		if broken {
			stmts = append(stmts, "create table bq_analytics.gone (x int)",
				"create view bq_analytics.fact_orders as select * from bq_analytics.gone", "drop table bq_analytics.gone")
		}
		for _, q := range stmts {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		wh.Close()
		_, err = WriteReport(context.Background(), dir, time.Now())
		switch {
		case !broken && err != nil:
			t.Errorf("a warehouse without marts: %v", err)
		case broken && (err == nil || !strings.Contains(err.Error(), "bq_analytics.fact_orders")):
			t.Errorf("a mart that cannot be read: %v, want an error naming it", err)
		}
	}
}
