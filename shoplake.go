// Package shoplake is the source root that Cloud Functions deploys: it
// registers every Shoplake entry point with functions-framework-go, and each
// deployed function selects its own with FUNCTION_TARGET. Each entry point
// builds its clients on first use, so one function's cold start never pays for
// another's, and a failed construction is retried on the next call.
//
// The list of entry points and their constructors lives in package
// entrypoints: the function packages themselves register nothing, and the
// local runner builds the same list with overrides for the warehouse and the
// transform trigger, and registers it itself (a second registration under
// the same name is forbidden).
package shoplake

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/shoplake/shoplake/functions/entrypoints"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/logging"
)

func init() {
	for _, e := range entrypoints.All() {
		functions.HTTP(e.Name, serve(e.Name, &lazy{build: cloud(e.Setup)}))
	}
}

// cloud binds a function's Setup to the deployed configuration: the process
// environment and no overrides.
func cloud(fn entrypoints.Setup) func(context.Context) (http.Handler, error) {
	return func(ctx context.Context) (http.Handler, error) { return fn(ctx, config.Env(), nil) }
}

// serve returns the handler of an entry point whose function is built on
// first use. A build failure answers 500 (so Scheduler and Eventarc retry)
// and logs which configuration is wrong.
func serve(name string, fn *lazy) http.HandlerFunc {
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

// lazy builds a function's handler on first use. Unlike sync.OnceValues it keeps no error:
// a failed build (a missing variable, an unreachable API) is reported and
// tried again on the next call instead of poisoning the instance.
type lazy struct {
	mu    sync.Mutex
	val   http.Handler
	build func(context.Context) (http.Handler, error)
}

func (l *lazy) get(ctx context.Context) (http.Handler, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.val != nil {
		return l.val, nil
	}
	// Clients outlive the request that happened to build them.
	v, err := l.build(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	l.val = v
	return v, nil
}

// startupFailed logs a construction failure as a Cloud Logging error entry.
func startupFailed(function string, err error) {
	logging.New(os.Stderr, slog.LevelInfo).Error("function start-up failed",
		"function", function, "error", err)
}
