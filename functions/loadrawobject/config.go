package loadrawobject

import (
	"regexp"
	"time"

	"github.com/shoplake/shoplake/shared/config"
)

// Config is LoadRawObject's configuration.
type Config struct {
	config.Platform
	// TransformJob is the Cloud Run job running dbt,
	// projects/<p>/locations/<r>/jobs/<j>; empty means transforms are not
	// configured (logged on every load).
	TransformJob string
	// MaxEventAge drops events older than this (default 24h).
	MaxEventAge time.Duration
}

var jobName = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/jobs/[^/]+$`)

// LoadConfig reads the configuration from lookup and reports every problem.
func LoadConfig(lookup config.Lookup) (Config, error) {
	r := config.NewReader(lookup)
	cfg := Config{
		Platform:     r.Platform(),
		TransformJob: r.String("TRANSFORM_JOB", ""),
		MaxEventAge:  r.Duration("MAX_EVENT_AGE", 24*time.Hour),
	}
	if cfg.TransformJob != "" && !jobName.MatchString(cfg.TransformJob) {
		r.Fail("TRANSFORM_JOB", "must be projects/<project>/locations/<region>/jobs/<job>, got %q", cfg.TransformJob)
	}
	return cfg, r.Err()
}
