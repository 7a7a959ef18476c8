package ingestbatch

import (
	"strings"

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
	cfg := Config{
		Platform:     r.Platform(),
		APIKeySecret: r.String("SOURCE_API_KEY_SECRET", ""),
		Source: source.Config{
			BaseURL:           r.Required("SOURCE_BASE_URL"),
			APIKey:            r.String("SOURCE_API_KEY", ""),
			APIKeyHeader:      r.String("SOURCE_API_KEY_HEADER", "X-API-Key"),
			Timeout:           r.Duration("SOURCE_TIMEOUT", 0),
			MaxRetries:        int(r.Int("SOURCE_MAX_RETRIES", 4, -1, 20)),
			RequestsPerSecond: r.Float("SOURCE_RATE_LIMIT", 5, 0.01, 10000),
			MaxResponseBytes:  r.Int("SOURCE_MAX_RESPONSE_BYTES", 1<<30, 1<<10, 1<<40),
		},
	}
	if cfg.APIKeySecret != "" && !strings.HasPrefix(cfg.APIKeySecret, "projects/") {
		r.Fail("SOURCE_API_KEY_SECRET", "must be a resource name projects/<p>/secrets/<s>/versions/<v>")
	}
	if cfg.APIKeySecret != "" && cfg.Source.APIKey != "" {
		r.Fail("SOURCE_API_KEY", "set either SOURCE_API_KEY (local) or SOURCE_API_KEY_SECRET, not both")
	}
	if cfg.Source.BaseURL != "" {
		if _, err := source.New(cfg.Source, nil); err != nil {
			r.Fail("SOURCE_BASE_URL", "%v", err)
		}
	}
	return cfg, r.Err()
}
