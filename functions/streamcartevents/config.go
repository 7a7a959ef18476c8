package streamcartevents

import (
	"time"

	"github.com/shoplake/shoplake/shared/config"
)

// Config is StreamCartEvents' configuration.
type Config struct {
	config.Platform
	// BatchRows is the most rows one insert carries (INSERT_BATCH_ROWS,
	// default 500; BigQuery recommends at most 500 rows per insertAll).
	BatchRows int
	// BatchDelay is how long a batch waits for more rows after its first
	// (INSERT_BATCH_DELAY, default 5ms).
	BatchDelay time.Duration
	// InsertTimeout bounds one insert (INSERT_TIMEOUT, default 30s).
	InsertTimeout time.Duration
}

// LoadConfig reads the configuration from lookup and reports every problem.
func LoadConfig(lookup config.Lookup) (Config, error) {
	r := config.NewReader(lookup)
	cfg := Config{
		Platform:      r.Platform(),
		BatchRows:     int(r.Int("INSERT_BATCH_ROWS", 500, 1, 10000)),
		BatchDelay:    r.Duration("INSERT_BATCH_DELAY", 5*time.Millisecond),
		InsertTimeout: r.Duration("INSERT_TIMEOUT", 30*time.Second),
	}
	return cfg, r.Err()
}
