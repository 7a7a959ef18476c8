package ingestbatch

import (
	"errors"
	"io"
	"net/http"

	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/respond"
)

// ServeHTTP is the thin HTTP handler: decode the optional body, run, encode
// the summary. 400 for a malformed request, 502 when the storefront failed,
// 500 for any other failure; the summary is in the body in every case.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := logging.WithLogger(r.Context(), f.deps.Logger.With(logging.Trace(f.cfg.ProjectID, logging.TraceID(r.Header))))
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		respond.JSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	req, err := decodeRequest(r.Body)
	if err != nil {
		respond.JSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	sum, err := f.Run(ctx, req)
	status := http.StatusOK
	switch {
	case errors.Is(err, ErrBadRequest):
		respond.JSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	case errors.Is(err, ErrSource):
		status = http.StatusBadGateway
	case err != nil:
		status = http.StatusInternalServerError
	}
	respond.JSON(w, status, sum)
}

// decodeRequest reads an optional JSON Request.
func decodeRequest(body io.Reader) (Request, error) {
	var req Request
	err := respond.DecodeRequest(body, &req, `{"entities":["products","users"],"date":"YYYY-MM-DD","allow_shrink":false}`)
	return req, err
}
