package ingestbatch

import (
	"time"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/pseudonym"
	"github.com/shoplake/shoplake/shared/source"
)

// DefaultRunTimeout is how long one call works by default (RUN_TIMEOUT):
// below the 540 s function timeout Terraform sets, with time to spare for
// recording the run.
const DefaultRunTimeout = 8 * time.Minute

// Config is IngestBatch's configuration.
type Config struct {
	config.Platform
	// RunTimeout bounds one call: the entities not done by then fail with
	// an error naming RUN_TIMEOUT (default DefaultRunTimeout).
	RunTimeout time.Duration
	// Source configures the storefront client (SOURCE_* variables).
	Source source.Config
	// Pseudonym names the key that replaces users' e-mail addresses
	// (PSEUDONYM_KEY_SECRET, or PSEUDONYM_KEY locally).
	Pseudonym pseudonym.Config
}

// LoadConfig reads the configuration from lookup and reports every problem.
func LoadConfig(lookup config.Lookup) (Config, error) {
	r := config.NewReader(lookup)
	cfg := Config{Platform: r.Platform(), RunTimeout: r.RunTimeout(DefaultRunTimeout), Source: source.ReadConfig(r), Pseudonym: pseudonym.ReadConfig(r)}
	return cfg, r.Err()
}
