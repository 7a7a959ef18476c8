// Package config reads function configuration from environment variables.
// A Reader collects every missing or malformed variable, each named, and Err
// returns them joined, so one start-up error lists everything to fix. Tests
// pass a map instead of touching the process environment.
package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shoplake/shoplake/shared/logging"
)

// Lookup returns an environment variable's value and whether it is set.
type Lookup func(name string) (string, bool)

// Env is the process environment.
func Env() Lookup { return os.LookupEnv }

// Map returns a Lookup over m, for tests.
func Map(m map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// Reader reads typed variables and records what is wrong with them.
type Reader struct {
	lookup Lookup
	errs   []error
}

// NewReader returns a Reader over lookup.
func NewReader(lookup Lookup) *Reader { return &Reader{lookup: lookup} }

func (r *Reader) get(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// Fail records a problem with a variable, for checks beyond the typed reads.
func (r *Reader) Fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// Required returns a variable that must be set and non-empty.
func (r *Reader) Required(name string) string {
	v, ok := r.get(name)
	if !ok {
		r.Fail(name, "is required but not set")
	}
	return v
}

// String returns a variable, or def when it is unset or empty.
func (r *Reader) String(name, def string) string {
	if v, ok := r.get(name); ok {
		return v
	}
	return def
}

// Int returns an integer variable within [lo, hi], or def when unset.
func (r *Reader) Int(name string, def, lo, hi int64) int64 {
	return parsed(r, name, def, func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) },
		func(n int64) bool { return n >= lo && n <= hi }, fmt.Sprintf("a whole number from %d to %d", lo, hi))
}

// Float returns a number variable within [lo, hi], or def when unset.
func (r *Reader) Float(name string, def, lo, hi float64) float64 {
	return parsed(r, name, def, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) },
		func(f float64) bool { return f >= lo && f <= hi }, fmt.Sprintf("a number from %g to %g", lo, hi))
}

// Duration returns a Go duration variable ("30s", "2m") that is positive, or
// def when unset.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	return parsed(r, name, def, time.ParseDuration,
		func(d time.Duration) bool { return d > 0 }, "a positive duration such as 30s or 2m")
}

// parsed reads a variable with parse: def when it is unset, and def with a
// recorded problem ("must be <want>, got <value>") when parse fails or valid
// refuses the value.
func parsed[T any](r *Reader, name string, def T, parse func(string) (T, error), valid func(T) bool, want string) T {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	x, err := parse(v)
	if err != nil || !valid(x) {
		r.Fail(name, "must be %s, got %q", want, v)
		return def
	}
	return x
}

// OneOf returns a variable that must be one of allowed, or def when unset.
func (r *Reader) OneOf(name, def string, allowed ...string) string {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	r.Fail(name, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	return def
}

// Err returns every recorded problem joined, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return &Error{Problems: r.errs}
}

// Error lists every configuration problem. It prints on one line, so a
// start-up failure is one readable log entry or terminal line.
type Error struct {
	Problems []error
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "invalid configuration: " + strings.Join(msgs, "; ")
}

// Unwrap returns the individual problems.
func (e *Error) Unwrap() []error { return e.Problems }

// Platform is the configuration every function shares.
type Platform struct {
	// ProjectID is the Google Cloud project (PROJECT_ID, else GOOGLE_CLOUD_PROJECT).
	ProjectID string
	// RawBucket is the lake bucket (RAW_BUCKET).
	RawBucket string
	// RawDataset is the raw BigQuery dataset (BQ_RAW_DATASET, default bq_raw).
	RawDataset string
	// Location is the BigQuery location (BQ_LOCATION, default US).
	Location string
	// LogLevel is the minimum log level (LOG_LEVEL: debug, info, warning, error).
	LogLevel string
}

// Shared returns p; a function's configuration embeds Platform, so Shared
// gives generic code its shared part.
func (p Platform) Shared() Platform { return p }

// Logger returns a Cloud Logging JSON logger writing to w at the configured
// level (validated by Platform, so it cannot be unknown here).
func (p Platform) Logger(w io.Writer) *slog.Logger {
	level, err := logging.ParseLevel(p.LogLevel)
	if err != nil {
		level = slog.LevelInfo
	}
	return logging.New(w, level)
}

// Platform reads the shared variables.
func (r *Reader) Platform() Platform {
	p := Platform{
		ProjectID:  r.String("PROJECT_ID", r.String("GOOGLE_CLOUD_PROJECT", "")),
		RawBucket:  r.Required("RAW_BUCKET"),
		RawDataset: r.String("BQ_RAW_DATASET", "bq_raw"),
		Location:   r.String("BQ_LOCATION", "US"),
		LogLevel:   r.OneOf("LOG_LEVEL", "info", "debug", "info", "warning", "error"),
	}
	if p.ProjectID == "" {
		r.Fail("PROJECT_ID", "is required but not set (nor GOOGLE_CLOUD_PROJECT)")
	}
	return p
}

// ErrRunTimeout marks work a function stopped itself at RUN_TIMEOUT, before
// the platform's own timeout would kill the instance without a word.
var ErrRunTimeout = errors.New("run timeout")

// RunTimeout reads RUN_TIMEOUT: how long one call of a function may work.
// Set it below the function's timeout (Terraform sets both), leaving time to
// record the run and answer; def is the function's default.
func (r *Reader) RunTimeout(def time.Duration) time.Duration {
	return r.Duration("RUN_TIMEOUT", def)
}

// WithRunTimeout bounds ctx by a function's RUN_TIMEOUT d. When it passes,
// context.Cause(ctx) is an error wrapping ErrRunTimeout and
// context.DeadlineExceeded that names the function and the setting.
func WithRunTimeout(ctx context.Context, function string, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("%w: %s stopped after RUN_TIMEOUT (%s), before the function's own timeout: %w",
		ErrRunTimeout, function, d, context.DeadlineExceeded))
}

// NameRunTimeout returns err, naming the run timeout when ctx ended at it and
// err does not say so already: a write cut short then reads "run timeout: …"
// rather than a bare "context deadline exceeded".
func NameRunTimeout(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if err == nil || ctx.Err() == nil || !errors.Is(cause, ErrRunTimeout) || errors.Is(err, ErrRunTimeout) {
		return err
	}
	return fmt.Errorf("%w; %w", cause, err)
}
