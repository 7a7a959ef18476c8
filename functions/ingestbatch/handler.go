package ingestbatch

import (
	"net/http"

	"github.com/shoplake/shoplake/shared/respond"
)

// ServeHTTP is the thin HTTP handler (see respond.Scheduled): decode the
// optional body, run, encode the summary. 400 for a malformed request, 502
// when the storefront failed, 500 for any other failure; the summary is in
// the body except for a malformed request.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	respond.Scheduled(w, r, f.deps.Logger, f.cfg.ProjectID,
		`{"entities":["products","users"],"date":"YYYY-MM-DD","allow_shrink":false}`, f.Run)
}
