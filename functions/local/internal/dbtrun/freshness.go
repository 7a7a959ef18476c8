package dbtrun

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FreshnessEmpty is the freshness status of a raw table with no rows.
const FreshnessEmpty = "empty"

// SourceFreshness is one raw table's freshness as `dbt source freshness`
// judged it against the thresholds in _staging__sources.yml.
type SourceFreshness struct {
	Source string `json:"source"`
	// Status is pass, warn, error or runtime error.
	Status     string  `json:"status"`
	AgeSeconds float64 `json:"age_seconds"`
	// WarnAfter and ErrorAfter are the source's thresholds in seconds (0:
	// none).
	WarnAfter  float64 `json:"warn_after_s,omitempty"`
	ErrorAfter float64 `json:"error_after_s,omitempty"`
}

// CheckFreshness runs `dbt source freshness` and reads its verdict per
// source. A stale source is reported, not an error: dbt exits non-zero then,
// so only a missing result file fails.
func CheckFreshness(ctx context.Context, dbt, project, dbPath, dir string) ([]SourceFreshness, error) {
	out := filepath.Join(dir, "dbt", "target", "sources.json")
	_ = os.Remove(out)
	runErr := dbtCommand(ctx, dbt, project, dbPath, dir, nil, "source", "freshness", "--output", out)
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("dbt source freshness wrote no results (%v): see %s", runErr, LogPath(dir))
	}
	fs, err := parseFreshness(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", out, err)
	}
	return fs, nil
}

// parseFreshness reads the verdicts of dbt's sources.json.
func parseFreshness(b []byte) ([]SourceFreshness, error) {
	var res struct {
		Results []struct {
			UniqueID string  `json:"unique_id"`
			Status   string  `json:"status"`
			Age      float64 `json:"max_loaded_at_time_ago_in_s"`
			Latest   *string `json:"max_loaded_at"`
			Criteria struct {
				WarnAfter  period `json:"warn_after"`
				ErrorAfter period `json:"error_after"`
			} `json:"criteria"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	var fs []SourceFreshness
	for _, r := range res.Results {
		// unique_id is source.<project>.<source>.<table>
		parts := strings.SplitN(r.UniqueID, ".", 3)
		f := SourceFreshness{Source: parts[len(parts)-1], Status: r.Status, AgeSeconds: r.Age,
			WarnAfter: r.Criteria.WarnAfter.seconds(), ErrorAfter: r.Criteria.ErrorAfter.seconds()}
		// No row to date: dbt reports an error and a nonsense age, from
		// no timestamp or (dbt-duckdb) from 0001-01-01.
		if r.Latest == nil || *r.Latest == "" || strings.HasPrefix(*r.Latest, "0001-01-01") || r.Age < 0 {
			f.Status, f.AgeSeconds = FreshnessEmpty, 0
		}
		fs = append(fs, f)
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Source < fs[j].Source })
	return fs, nil
}

// period is a dbt freshness threshold such as {"count": 2, "period": "hour"}.
type period struct {
	Count  *float64 `json:"count"`
	Period string   `json:"period"`
}

func (p period) seconds() float64 {
	unit := map[string]float64{"minute": 60, "hour": 3600, "day": 86400}[p.Period]
	if p.Count == nil {
		return 0
	}
	return *p.Count * unit
}
