package respond

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type request struct {
	N int `json:"n"`
}

type summary struct {
	Got int `json:"got"`
}

func TestScheduled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, body string
		runErr             error
		wantStatus         int
		wantBody           string
	}{
		{name: "empty body", method: http.MethodPost, wantStatus: 200, wantBody: `{"got":0}`},
		{name: "get", method: http.MethodGet, body: `{"n":2}`, wantStatus: 200, wantBody: `{"got":2}`},
		{name: "put", method: http.MethodPut, wantStatus: 405, wantBody: `{"error":"use POST"}`},
		{name: "unknown field", method: http.MethodPost, body: `{"m":1}`, wantStatus: 400, wantBody: `like {\"n\":1}`},
		{name: "trailing data", method: http.MethodPost, body: `{"n":1} {}`, wantStatus: 400, wantBody: "data after"},
		{name: "too large", method: http.MethodPost, body: `{"n":1}` + strings.Repeat(" ", MaxRequest), wantStatus: 400, wantBody: "exceeds"},
		{name: "bad request", method: http.MethodPost, runErr: fmt.Errorf("%w: date in the future", ErrBadRequest), wantStatus: 400, wantBody: "date in the future"},
		{name: "upstream", method: http.MethodPost, body: `{"n":3}`, runErr: fmt.Errorf("carts: %w", Upstream("source failed")), wantStatus: 502, wantBody: `{"got":3}`},
		{name: "other", method: http.MethodPost, body: `{"n":4}`, runErr: errors.New("commit"), wantStatus: 500, wantBody: `{"got":4}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			run := func(ctx context.Context, req request) (summary, error) {
				return summary{Got: req.N}, tc.runErr
			}
			rec := httptest.NewRecorder()
			logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
			Scheduled(rec, httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body)), logger, "proj", `{"n":1}`, run)
			if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("got %d %s, want %d with %s", rec.Code, rec.Body.String(), tc.wantStatus, tc.wantBody)
			}
		})
	}
}
