package dbtrun

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// HeadlineMetrics are the semantic layer's metrics (dbt/models/marts/
// _marts__semantic_models.yml) whose totals the run summary and the report
// show, in that order.
var HeadlineMetrics = []string{"revenue", "orders", "average_order_value", "items_per_order", "customers", "units"}

// moneyMetrics are the headline metrics shown to the cent.
var moneyMetrics = map[string]bool{"revenue": true, "average_order_value": true}

// Metric is one figure of the semantic layer, named and described as its
// definition does.
type Metric struct {
	Name        string `json:"name"`
	Label       string `json:"label"`
	Description string `json:"description,omitempty"`
	Value       string `json:"value"`
}

// semanticManifestPath is where dbt writes the semantic layer's definitions
// for the run in dir.
func semanticManifestPath(dir string) string {
	return filepath.Join(dir, "dbt", "target", "semantic_manifest.json")
}

// queryHeadline asks the semantic layer for the totals of HeadlineMetrics on
// the warehouse at dbPath, with MetricFlow's mf (beside dbt, as make
// installs it), so that the figures the run shows are those a BI tool gets
// from the same definitions. mf reads the definitions from target/ under
// the directory it runs in, which must hold the dbt project file: the run's
// dbt/metrics directory gets both.
func QueryHeadline(ctx context.Context, dbt, project, dir, dbPath string) ([]Metric, error) {
	// mf runs in another directory: a path relative to this one (make run
	// passes .venv/bin/dbt) must be made absolute first.
	mf, err := filepath.Abs(filepath.Join(filepath.Dir(dbt), "mf"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(mf); err != nil {
		return nil, fmt.Errorf("MetricFlow's mf is not beside dbt (%s): make installs both from requirements.txt", mf)
	}
	manifest, err := os.ReadFile(semanticManifestPath(dir))
	if err != nil {
		return nil, fmt.Errorf("semantic layer: %w", err)
	}
	projectFile, err := os.ReadFile(filepath.Join(project, "dbt_project.yml"))
	if err != nil {
		return nil, fmt.Errorf("semantic layer: %w", err)
	}
	work, err := filepath.Abs(filepath.Join(dir, "dbt", "metrics"))
	if err != nil {
		return nil, err
	}
	absProject, err := filepath.Abs(project)
	if err != nil {
		return nil, err
	}
	absDB, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(work, "target"), 0o755); err != nil {
		return nil, err
	}
	if err := errors.Join(os.WriteFile(filepath.Join(work, "dbt_project.yml"), projectFile, 0o644),
		os.WriteFile(filepath.Join(work, "target", "semantic_manifest.json"), manifest, 0o644)); err != nil {
		return nil, fmt.Errorf("semantic layer: %w", err)
	}
	out := filepath.Join(work, "headline.csv")
	_ = os.Remove(out)
	cmd := exec.CommandContext(ctx, mf, "query", "--metrics", strings.Join(HeadlineMetrics, ","), "--csv", out)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "DBT_PROFILES_DIR="+absProject, "SHOPLAKE_DUCKDB_PATH="+absDB)
	dieWithRunner(cmd)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("semantic layer: mf query: %w: %s", err, lastLines(b, 5))
	}
	values, err := readHeadline(out)
	if err != nil {
		return nil, err
	}
	return describe(manifest, values)
}

// readHeadline reads mf's CSV of totals: a header of metric names and one
// row of values.
func readHeadline(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("semantic layer: %w", err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) != 2 || len(rows[0]) != len(rows[1]) {
		return nil, fmt.Errorf("semantic layer: mf's totals are not one row under a header (%v): %.200q", err, b)
	}
	values := map[string]string{}
	for i, name := range rows[0] {
		values[name] = rows[1][i]
	}
	return values, nil
}

// describe names each headline metric as its definition in the semantic
// manifest does, with its value from values, written to the cent for money
// and without trailing zeros for counts and ratios.
func describe(manifest []byte, values map[string]string) ([]Metric, error) {
	var m struct {
		Metrics []struct {
			Name, Label, Description string
		} `json:"metrics"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("semantic layer: read the semantic manifest: %w", err)
	}
	defs := map[string]Metric{}
	for _, d := range m.Metrics {
		defs[d.Name] = Metric{Name: d.Name, Label: d.Label, Description: strings.TrimSpace(d.Description)}
	}
	out := make([]Metric, 0, len(HeadlineMetrics))
	for _, name := range HeadlineMetrics {
		d, ok := defs[name]
		v, found := values[name]
		if !ok || !found {
			return nil, fmt.Errorf("semantic layer: metric %s is not defined, or mf did not answer it", name)
		}
		d.Value = v
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			d.Value = strconv.FormatFloat(f, 'f', 2, 64)
			if !moneyMetrics[name] {
				d.Value = strings.TrimSuffix(strings.TrimRight(d.Value, "0"), ".")
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// lastLines is the last n lines of b, for an error.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
