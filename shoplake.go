// Package shoplake is the source root that Cloud Functions deploys: it
// registers every Shoplake entry point with functions-framework-go, and each
// deployed function selects its own with FUNCTION_TARGET. Each entry point
// builds its clients on first use, so one function's cold start never pays for
// another's, and a failed construction is retried on the next call.
//
// The function packages themselves do not register anything: the local runner
// builds the same functions through the same Setup constructors, with
// overrides for the warehouse and the transform trigger, and registers them
// itself (a second registration under the same name is forbidden).
package shoplake

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/shoplake/shoplake/functions/ingestbatch"
	"github.com/shoplake/shoplake/functions/loadrawobject"
	"github.com/shoplake/shoplake/functions/pollcarts"
	"github.com/shoplake/shoplake/functions/streamcartevents"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/setup"
)

func init() {
	ingest := &lazy[*ingestbatch.Function]{build: cloud(ingestbatch.Setup)}
	load := &lazy[*loadrawobject.Function]{build: cloud(loadrawobject.Setup)}
	poll := &lazy[*pollcarts.Function]{build: cloud(pollcarts.Setup)}
	stream := &lazy[*streamcartevents.Function]{build: cloud(streamcartevents.Setup)}

	functions.HTTP(ingestbatch.FunctionName, serve(ingestbatch.FunctionName, ingest))
	// LoadRawObject is registered as an HTTP function that decodes the
	// CloudEvent itself (see package cehttp); StreamCartEvents is a plain
	// Pub/Sub push handler.
	functions.HTTP(loadrawobject.FunctionName, serve(loadrawobject.FunctionName, load))
	functions.HTTP(pollcarts.FunctionName, serve(pollcarts.FunctionName, poll))
	functions.HTTP(streamcartevents.FunctionName, serve(streamcartevents.FunctionName, stream))
}

// cloud binds a function's Setup to the deployed configuration: the process
// environment and no overrides.
func cloud[T any](fn func(context.Context, config.Lookup, *setup.Overrides) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) { return fn(ctx, config.Env(), nil) }
}

// serve returns the handler of an entry point whose function is built on
// first use. A build failure answers 500 (so Scheduler and Eventarc retry)
// and logs which configuration is wrong.
func serve[T http.Handler](name string, fn *lazy[T]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h, err := fn.get(r.Context())
		if err != nil {
			startupFailed(name, err)
			http.Error(w, "function is misconfigured; see its logs", http.StatusInternalServerError)
			return
		}
		h.ServeHTTP(w, r)
	}
}

// lazy builds a value on first use. Unlike sync.OnceValues it keeps no error:
// a failed build (a missing variable, an unreachable API) is reported and
// tried again on the next call instead of poisoning the instance.
type lazy[T any] struct {
	mu    sync.Mutex
	val   T
	built bool
	build func(context.Context) (T, error)
}

func (l *lazy[T]) get(ctx context.Context) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.built {
		return l.val, nil
	}
	// Clients outlive the request that happened to build them.
	v, err := l.build(context.WithoutCancel(ctx))
	if err != nil {
		return v, err
	}
	l.val, l.built = v, true
	return v, nil
}

// startupFailed logs a construction failure as a Cloud Logging error entry.
func startupFailed(function string, err error) {
	logging.New(os.Stderr, slog.LevelInfo).Error("function start-up failed",
		"function", function, "error", err)
}
