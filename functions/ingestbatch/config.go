package ingestbatch

import (
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/pseudonym"
	"github.com/shoplake/shoplake/shared/source"
)

// Config is IngestBatch's configuration.
type Config struct {
	config.Platform
	// Source configures the storefront client (SOURCE_* variables).
	Source source.Config
	// Pseudonym names the key that replaces users' e-mail addresses
	// (PSEUDONYM_KEY_SECRET, or PSEUDONYM_KEY locally).
	Pseudonym pseudonym.Config
}

// LoadConfig reads the configuration from lookup and reports every problem.
func LoadConfig(lookup config.Lookup) (Config, error) {
	r := config.NewReader(lookup)
	cfg := Config{Platform: r.Platform(), Source: source.ReadConfig(r), Pseudonym: pseudonym.ReadConfig(r)}
	return cfg, r.Err()
}
