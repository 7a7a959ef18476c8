package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/functions/local/storefront"
)

// driftingAPI serves the FakeStore snapshot with products that gained a
// field (colour) and lost one (image).
func driftingAPI(t *testing.T) string {
	t.Helper()
	var products []map[string]any
	if err := storefront.DecodeFixtures("products", &products); err != nil {
		t.Fatal(err)
	}
	for _, p := range products {
		p["colour"] = "teal"
		delete(p, "image")
	}
	body, _ := json.Marshal(products)
	fixtures := storefront.NewServer(storefront.Fixtures())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/products" {
			fixtures.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestReportShowsEveryRunAndDrift runs the pipeline three times in one
// directory (the fixtures, a source whose products drift, synthetic data at
// scale), then checks that the summary named the drift, that the load went
// on, and that the report shows all three runs and the drift, drawn in
// Chromium with every chart on the page and no console error.
func TestReportShowsEveryRunAndDrift(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, run := range []struct {
		env  []string
		args []string
	}{
		{},
		{env: []string{"SOURCE_BASE_URL=" + driftingAPI(t)}},
		{args: []string{"--scale", "2000"}},
	} {
		r := runLocal(t, dir, run.env, append(append([]string{"--port", "0"}, run.args...), dbtArgs()...)...)
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\n%s\n%s", i+1, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "report: "+summary.ReportPath(dir)) {
			t.Errorf("run %d did not print the report's path:\n%s", i+1, r.stdout)
		}
		if i != 1 {
			continue
		}
		checkDriftingRun(t, dir, r.stdout)
	}

	html, err := os.ReadFile(summary.ReportPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(html, []byte("data-run=")); n != 3 {
		t.Errorf("the report lists %d runs, want 3", n)
	}
	for _, s := range []string{"http://", "https://", "<script"} {
		if bytes.Contains(html, []byte(s)) {
			t.Errorf("the report holds %q: it must be self-contained", s)
		}
	}

	checkReportInBrowser(t, dir)
}

// checkDriftingRun checks the run of the source whose products drift:
// its summary names the drift, every product is loaded, and the report
// shows the drift.
func checkDriftingRun(t *testing.T, dir, stdout string) {
	t.Helper()
	const want = "schema drift products: added colour (string) in 20 of 20; stopped arriving image (missing in all 20)"
	if !strings.Contains(stdout, want) {
		t.Errorf("the drifting run's summary lacks %q:\n%s", want, stdout)
	}
	for _, e := range lastRun(t, dir).Entities {
		if e.Entity == "products" && (e.Valid != 20 || e.LoadedRows != 20) {
			t.Errorf("the drifting products were not all loaded: %+v", e)
		}
	}
	html, err := os.ReadFile(summary.ReportPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"added <code>colour</code> (string) in 20", "stopped arriving: <code>image</code> in 20 of 20"} {
		if !bytes.Contains(html, []byte(s)) {
			t.Errorf("the report of the drifting run lacks %q", s)
		}
	}
}

// checkReportInBrowser draws the report in Chromium: every run and every
// chart drawn, the headline figures the summary printed, the latest run's
// drift, and no console error.
func checkReportInBrowser(t *testing.T, dir string) {
	t.Helper()
	p := openInChromium(t, summary.ReportPath(dir), filepath.Join(artefacts(t), "report.png"))
	if len(p.Problems) > 0 {
		t.Errorf("the browser reported:\n%s", strings.Join(p.Problems, "\n"))
	}
	if p.Runs != 3 {
		t.Errorf("the browser shows %d runs, want 3", p.Runs)
	}
	want := []string{"timeline", "volume products", "volume users", "volume carts", "volume cart events"}
	if os.Getenv("SHOPLAKE_DBT") != "" {
		want = append(want, "orders per day", "revenue per day", "top products")
	}
	drawn := map[string]drawnChart{}
	for _, c := range p.Charts {
		drawn[c.Name] = c
	}
	for _, name := range want {
		c, ok := drawn[name]
		if !ok || c.Drawn == 0 || c.Drawn < c.Shapes/2 || c.Width < 100 || c.Height < 50 {
			t.Errorf("chart %q not drawn: %+v", name, c)
		}
	}
	// The headline figures are the semantic layer's, as the summary printed
	// them (and as functions/local/metrics_test.go checks them by hand).
	if os.Getenv("SHOPLAKE_DBT") != "" {
		for _, m := range lastRun(t, dir).DBT.Metrics {
			if !strings.Contains(p.Metrics, m.Label) || !strings.Contains(p.Metrics, m.Value) {
				t.Errorf("the browser's headline figures lack %s %s:\n%s", m.Label, m.Value, p.Metrics)
			}
		}
		if !strings.Contains(p.Metrics, "Average order value") {
			t.Errorf("the browser's headline figures lack the average order value:\n%s", p.Metrics)
		}
	}
	// The drift is on the page, but only for the run that had it: the
	// report shows the latest run's drift, and the latest source sent every
	// field.
	if !strings.Contains(p.Drift, "none") || strings.Contains(p.Drift, "colour") {
		t.Errorf("drift section of the latest run: %q", p.Drift)
	}
}

// artefacts is a directory for what tests leave for people to look at:
// $SHOPLAKE_ARTEFACTS, or .local/test-artefacts at the repository's root.
func artefacts(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("SHOPLAKE_ARTEFACTS"); d != "" {
		return d
	}
	abs, err := filepath.Abs(filepath.Join("..", "..", ".local", "test-artefacts"))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
