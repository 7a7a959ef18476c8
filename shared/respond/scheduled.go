package respond

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/shoplake/shoplake/shared/logging"
)

// Error kinds a scheduled function's run wraps to choose its status.
var (
	// ErrBadRequest marks a request that asks for something impossible: 400,
	// and the error alone is answered.
	ErrBadRequest = errors.New("bad request")
	// ErrUpstream marks a failure of a service the function reads from: 502.
	ErrUpstream = errors.New("upstream failed")
)

// Scheduled serves one call of a function that Cloud Scheduler calls: it
// decodes the optional JSON body into a Req (example shows a valid one in the
// error), runs the function with a logger that carries the call's trace, and
// answers its summary. The status is 405 for a method other than GET or POST,
// 400 for a malformed body or an error wrapping ErrBadRequest, 502 for one
// wrapping ErrUpstream, 500 for any other error and 200 otherwise; except
// for 405 and 400 the summary is the body, whatever the status.
func Scheduled[Req, Sum any](w http.ResponseWriter, r *http.Request, logger *slog.Logger, projectID, example string,
	run func(context.Context, Req) (Sum, error)) {
	ctx := logging.WithLogger(r.Context(), logger.With(logging.Trace(projectID, logging.TraceID(r.Header))))
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		JSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	var req Req
	if err := DecodeRequest(r.Body, &req, example); err != nil {
		JSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	sum, err := run(ctx, req)
	switch {
	case errors.Is(err, ErrBadRequest):
		JSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrUpstream):
		JSON(w, http.StatusBadGateway, sum)
	case err != nil:
		JSON(w, http.StatusInternalServerError, sum)
	default:
		JSON(w, http.StatusOK, sum)
	}
}

// Upstream returns a sentinel error with its own message that a function
// wraps for the failures of one upstream service; it matches ErrUpstream.
func Upstream(msg string) error { return &upstreamError{msg: msg} }

type upstreamError struct{ msg string }

func (e *upstreamError) Error() string        { return e.msg }
func (e *upstreamError) Is(target error) bool { return target == ErrUpstream }
