package streamcartevents

import (
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/events"
)

// Config is StreamCartEvents' configuration.
type Config struct {
	config.Platform
	// BatchRows is the most rows one append carries (INSERT_BATCH_ROWS,
	// default events.MaxBatchEvents: one batch message in one append).
	BatchRows int
}

// LoadConfig reads the configuration from lookup and reports every problem.
func LoadConfig(lookup config.Lookup) (Config, error) {
	r := config.NewReader(lookup)
	cfg := Config{
		Platform:  r.Platform(),
		BatchRows: int(r.Int("INSERT_BATCH_ROWS", events.MaxBatchEvents, 1, 10000)),
	}
	return cfg, r.Err()
}
