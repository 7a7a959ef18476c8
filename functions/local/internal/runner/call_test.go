package runner

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCallFunction calls a function as Cloud Scheduler does and reads its
// answer: a summary is decoded; anything else is an error naming the
// function and the most specific error of its answer.
func TestCallFunction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		want    string // the decoded status, when no error is expected
		wantErr string
	}{
		{"a summary", http.StatusOK, `{"status":"succeeded"}`, "succeeded", ""},
		{"an entity's error first", http.StatusInternalServerError,
			`{"status":"failed","error":"1 of 2 entities failed","entities":[{"entity":"products"},{"entity":"users","error":"HTTP 503 from the source"}]}`,
			"", "IngestBatch answered HTTP 500: users: HTTP 503 from the source"},
		{"the function's error", http.StatusBadRequest, `{"error":"allow_shrink must be a boolean"}`,
			"", "IngestBatch answered HTTP 400: allow_shrink must be a boolean"},
		{"a body that is not JSON", http.StatusBadGateway, "upstream connect error\n",
			"", "IngestBatch answered HTTP 502: upstream connect error"},
		{"a 200 that is not a summary", http.StatusOK, "<html>", "", "IngestBatch answered HTTP 200: <html>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.Header.Get("User-Agent") != "Google-Cloud-Scheduler" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("called with %s, User-Agent %q, Content-Type %q; want a scheduler's JSON POST",
						r.Method, r.Header.Get("User-Agent"), r.Header.Get("Content-Type"))
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			var got struct{ Status string }
			err := callFunction(t.Context(), srv.URL+"/IngestBatch", `{}`, &got)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "" && got.Status != tc.want:
				t.Errorf("decoded status %q, want %q", got.Status, tc.want)
			}
		})
	}
}

// TestCallFunctionNamesAnUnreachableFunction: a function that cannot be
// reached is named in the error.
func TestCallFunctionNamesAnUnreachableFunction(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var v struct{}
	if err := callFunction(t.Context(), url+"/PollCarts", `{}`, &v); err == nil || !strings.HasPrefix(err.Error(), "call PollCarts: ") {
		t.Errorf("error %v, want it to name PollCarts", err)
	}
}
