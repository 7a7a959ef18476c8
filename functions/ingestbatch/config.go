package ingestbatch

import (
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/source"
)

// Config is IngestBatch's configuration.
type Config struct {
	config.Platform
	// Source configures the storefront client. Its APIKey is resolved at
	// start-up from APIKeySecret (Secret Manager) or SOURCE_API_KEY (local).
	Source source.Config
	// APIKeySecret is a Secret Manager version resource name, optional.
	APIKeySecret string
}

// LoadConfig reads the configuration from lookup and reports every problem.
func LoadConfig(lookup config.Lookup) (Config, error) {
	r := config.NewReader(lookup)
	cfg := Config{Platform: r.Platform()}
	cfg.Source, cfg.APIKeySecret = source.ReadConfig(r)
	return cfg, r.Err()
}
