package bigquery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"
)

// fakeBQ is an httptest fake of the BigQuery REST API. It answers the calls
// the Go client makes for load jobs, queries and insertAll, and records every
// request so tests can assert what a real client sends.
type fakeBQ struct {
	mu       sync.Mutex
	requests []fakeRequest
	jobs     map[string]map[string]any
	// outputRows is what a finished load job reports.
	outputRows string
	// jobErrors are the reasons for which the next new jobs fail, in order.
	jobErrors []string
	// count is what a count(*) query returns.
	count string
	// failInsert makes insertAll answer with this status.
	failInsert int
	// rowErrors makes insertAll report these reasons for these row indexes
	// (and "stopped" for every other row, as BigQuery does).
	rowErrors map[int]string
}

type fakeRequest struct {
	Method, Path string
	Body         map[string]any
}

func newFakeBQ(t *testing.T) (*fakeBQ, *bigquery.Client) {
	t.Helper()
	f := &fakeBQ{jobs: map[string]map[string]any{}, outputRows: "0", count: "0"}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client, err := bigquery.NewClient(context.Background(), "proj",
		option.WithEndpoint(srv.URL+"/bigquery/v2/"), option.WithoutAuthentication(), option.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	client.Location = "US"
	t.Cleanup(func() { client.Close() })
	return f, client
}

func (f *fakeBQ) calls(method, pathSuffix string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeBQ) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Body: body})

	path := strings.TrimPrefix(r.URL.Path, "/bigquery/v2")
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method == http.MethodPost && path == "/projects/proj/jobs":
		ref, _ := body["jobReference"].(map[string]any)
		id, _ := ref["jobId"].(string)
		if _, ok := f.jobs[id]; ok {
			reply(http.StatusConflict, map[string]any{"error": map[string]any{"code": 409, "message": "Already Exists: Job proj:US." + id}})
			return
		}
		job := map[string]any{
			"jobReference":  map[string]any{"projectId": "proj", "jobId": id, "location": "US"},
			"configuration": body["configuration"],
			"status":        map[string]any{"state": "DONE"},
			"statistics":    map[string]any{"load": map[string]any{"outputRows": f.outputRows}},
		}
		if len(f.jobErrors) > 0 {
			reason := f.jobErrors[0]
			f.jobErrors = f.jobErrors[1:]
			job["status"] = map[string]any{"state": "DONE", "errorResult": map[string]any{"reason": reason, "message": reason + " in the fake"}}
			delete(job, "statistics")
		}
		f.jobs[id] = job
		reply(http.StatusOK, job)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/projects/proj/jobs/"):
		id := strings.TrimPrefix(path, "/projects/proj/jobs/")
		job, ok := f.jobs[id]
		if !ok {
			reply(http.StatusNotFound, map[string]any{"error": map[string]any{"code": 404, "message": "Not found: Job " + id}})
			return
		}
		reply(http.StatusOK, job)
	case r.Method == http.MethodPost && path == "/projects/proj/queries":
		reply(http.StatusOK, map[string]any{
			"jobReference": map[string]any{"projectId": "proj", "jobId": "q1", "location": "US"},
			"jobComplete":  true,
			"schema":       map[string]any{"fields": []any{map[string]any{"name": "f0_", "type": "INTEGER"}}},
			"rows":         []any{map[string]any{"f": []any{map[string]any{"v": f.count}}}},
			"totalRows":    "1",
		})
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/insertAll"):
		if f.failInsert != 0 {
			reply(f.failInsert, map[string]any{"error": map[string]any{"code": f.failInsert, "message": "backend error"}})
			return
		}
		if len(f.rowErrors) > 0 {
			rows, _ := body["rows"].([]any)
			var errs []any
			for i := range rows {
				reason, ok := f.rowErrors[i]
				if !ok {
					reason = "stopped"
				}
				errs = append(errs, map[string]any{"index": i, "errors": []any{map[string]any{"reason": reason, "message": reason + " row"}}})
			}
			reply(http.StatusOK, map[string]any{"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": errs})
			return
		}
		reply(http.StatusOK, map[string]any{"kind": "bigquery#tableDataInsertAllResponse"})
	default:
		reply(http.StatusNotFound, map[string]any{"error": map[string]any{"code": 404, "message": "fake: no route " + r.Method + " " + path}})
	}
}
