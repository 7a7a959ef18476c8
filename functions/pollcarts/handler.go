package pollcarts

import (
	"net/http"

	"github.com/shoplake/shoplake/shared/respond"
)

// ServeHTTP is the thin HTTP handler (see respond.Scheduled): run one poll
// and answer its summary; 502 when the storefront failed, 500 for any other
// failure (nothing was committed, and the next poll repeats the same events).
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	respond.Scheduled(w, r, f.deps.Logger, f.cfg.ProjectID, `{"allow_shrink":false}`, f.Run)
}
