package terraform

import (
	"cmp"
	"fmt"
	"time"

	"github.com/shoplake/shoplake/functions/ingestbatch"
	"github.com/shoplake/shoplake/functions/pollcarts"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/source"
)

// workBound is how long one call of a function that reads the storefront
// may work (RUN_TIMEOUT), and the source fetches it makes one after another,
// each ending within its SOURCE_RETRY_BUDGET, as the Go configuration reads
// them from the deployed environment.
type workBound struct {
	run     time.Duration
	fetches []time.Duration
}

// workBounds reads each such function's bounds from its environment.
var workBounds = map[string]func(config.Lookup) (workBound, error){
	ingestbatch.FunctionName: func(l config.Lookup) (workBound, error) {
		cfg, err := ingestbatch.LoadConfig(l)
		b := workBound{run: cfg.RunTimeout}
		for range cfg.Fetches() {
			b.fetches = append(b.fetches, cmp.Or(cfg.Source.HTTP.RetryBudget, source.DefaultRetryBudget))
		}
		return b, err
	},
	pollcarts.FunctionName: func(l config.Lookup) (workBound, error) {
		cfg, err := pollcarts.LoadConfig(l)
		return workBound{run: cfg.RunTimeout, fetches: []time.Duration{cmp.Or(cfg.Source.HTTP.RetryBudget, source.DefaultRetryBudget)}}, err
	},
}

// placeholders stand in for the variables Terraform sets from resources and
// input variables, with values their Go readers accept.
var placeholders = map[string]string{
	"SOURCE_BASE_URL": "https://shop.example.com",
	// The kind whose runs make the most fetches.
	"SOURCE_KIND":            "shopify",
	"SHOPIFY_API_VERSION":    "2025-07",
	"WOOCOMMERCE_QUERY_AUTH": "false",
	"SOURCE_API_KEY_SECRET":  "projects/p/secrets/source-api-key/versions/latest",
	"PSEUDONYM_KEY_SECRET":   "projects/p/secrets/pseudonym-key/versions/latest",
	"CARTS_WINDOW_DAYS":      "0",
	"LOG_LEVEL":              "info",
}

// timeoutProblems checks that every function that reads the storefront stops
// its own work before the platform's timeout_seconds would kill it: its
// RUN_TIMEOUT leaves at least a tenth of the timeout (and 5 s) to record the
// run and answer, and its fetches, each within SOURCE_RETRY_BUDGET, fit in
// RUN_TIMEOUT, so a slow source ends as a clear error and a 502 that the
// function-errors alert counts.
func timeoutProblems(c *tfConfig) []string {
	fns, err := c.functions()
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, f := range fns {
		read, ok := workBounds[f.entryPoint]
		if !ok {
			continue
		}
		env := map[string]string{}
		for k := range f.always {
			env[k] = cmp.Or(f.literals[k], placeholders[k], "x")
		}
		// What is set only for some sources is set as for the one
		// placeholders name (the kind that fetches most).
		for k := range f.maybe {
			if v, ok := placeholders[k]; ok {
				env[k] = cmp.Or(f.literals[k], v)
			}
		}
		b, err := read(config.Map(env))
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", f.resource, err))
			continue
		}
		if f.timeoutSeconds <= 0 {
			out = append(out, fmt.Sprintf("%s: timeout_seconds is not a constant", f.resource))
			continue
		}
		timeout := time.Duration(f.timeoutSeconds) * time.Second
		margin := max(timeout/10, 5*time.Second)
		if b.run > timeout-margin {
			out = append(out, fmt.Sprintf("%s: RUN_TIMEOUT %s leaves less than %s of the %s function timeout to record the run and answer",
				f.resource, b.run, margin, timeout))
		}
		var fetches time.Duration
		for _, d := range b.fetches {
			fetches += d
		}
		if fetches > b.run {
			out = append(out, fmt.Sprintf("%s: %d fetches of SOURCE_RETRY_BUDGET %s (%s in all) do not fit in RUN_TIMEOUT %s",
				f.resource, len(b.fetches), b.fetches[0], fetches, b.run))
		}
	}
	return out
}
