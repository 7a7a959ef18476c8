package ingestbatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/respond"
)

// maxBody caps the request body; a real request is a few dozen bytes.
const maxBody = 64 << 10

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

// decodeRequest reads an optional JSON Request, rejecting unknown fields,
// trailing data and bodies over maxBody.
func decodeRequest(body io.Reader) (Request, error) {
	var req Request
	b, err := io.ReadAll(io.LimitReader(body, maxBody+1))
	if err != nil {
		return req, fmt.Errorf("read body: %w", err)
	}
	if len(b) > maxBody {
		return req, fmt.Errorf("body exceeds %d bytes", maxBody)
	}
	if len(b) == 0 {
		return req, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf(`body must be JSON like {"entities":["products","users"],"date":"YYYY-MM-DD"}: %w`, err)
	}
	if dec.More() {
		return req, errors.New("body has data after the JSON object")
	}
	return req, nil
}
