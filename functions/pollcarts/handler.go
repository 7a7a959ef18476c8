package pollcarts

import (
	"errors"
	"net/http"

	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/respond"
)

// ServeHTTP is the thin HTTP handler: run one poll and answer its summary;
// 502 when the storefront failed, 500 for any other failure (nothing was
// committed, and the next poll repeats the same events).
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := logging.WithLogger(r.Context(), f.deps.Logger.With(logging.Trace(f.cfg.ProjectID, logging.TraceID(r.Header))))
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		respond.JSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	var req Request
	if err := respond.DecodeRequest(r.Body, &req, `{"allow_shrink":false}`); err != nil {
		respond.JSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	sum, err := f.Run(ctx, req)
	switch {
	case errors.Is(err, ErrSource):
		respond.JSON(w, http.StatusBadGateway, sum)
	case err != nil:
		respond.JSON(w, http.StatusInternalServerError, sum)
	default:
		respond.JSON(w, http.StatusOK, sum)
	}
}
