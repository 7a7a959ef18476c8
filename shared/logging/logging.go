// Package logging builds log/slog loggers whose JSON Cloud Logging reads as
// structured entries: "severity" and "message" keys, the trace of the request
// under "logging.googleapis.com/trace", and labels such as run_id and function
// under "logging.googleapis.com/labels". The logger travels in the context.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
)

// Cloud Logging's special JSON keys.
const (
	TraceKey  = "logging.googleapis.com/trace"
	LabelsKey = "logging.googleapis.com/labels"
)

// ParseLevel maps debug, info, warning (or warn) and error to slog levels.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want debug, info, warning or error)", s)
}

// New returns a JSON logger writing to w at the given minimum level.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("severity", severity(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		},
	}))
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

type ctxKey struct{}

// WithLogger returns a context carrying logger.
func WithLogger(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, logger)
}

// FromContext returns the context's logger, or slog.Default().
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// FromContextOr returns the context's logger, or fallback when it has none.
func FromContextOr(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

// Labels returns the attribute Cloud Logging shows as the entry's labels.
func Labels(runID, function string) slog.Attr {
	return slog.Group(LabelsKey, slog.String("run_id", runID), slog.String("function", function))
}

var (
	cloudTrace  = regexp.MustCompile(`^([0-9a-fA-F]{32})(?:/|$)`)
	traceparent = regexp.MustCompile(`^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$`)
)

// TraceIDFromTraceparent extracts the trace id from a W3C traceparent value,
// as Eventarc sends it in the CloudEvent extension of the same name.
func TraceIDFromTraceparent(v string) string {
	if m := traceparent.FindStringSubmatch(strings.TrimSpace(v)); m != nil {
		return m[1]
	}
	return ""
}

// TraceID extracts the trace id from a W3C traceparent or an
// X-Cloud-Trace-Context header, or returns "".
func TraceID(h http.Header) string {
	if id := TraceIDFromTraceparent(h.Get("traceparent")); id != "" {
		return id
	}
	if m := cloudTrace.FindStringSubmatch(strings.TrimSpace(h.Get("X-Cloud-Trace-Context"))); m != nil {
		return strings.ToLower(m[1])
	}
	return ""
}

// Trace returns the attribute linking an entry to its trace in project, or an
// empty attribute (which slog drops) when traceID or project is empty.
func Trace(project, traceID string) slog.Attr {
	if project == "" || traceID == "" {
		return slog.Attr{}
	}
	return slog.String(TraceKey, "projects/"+project+"/traces/"+traceID)
}
