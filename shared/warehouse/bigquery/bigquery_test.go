package bigquery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/shared/warehouse"
)

func newTestWarehouse(t *testing.T) (*fakeBQ, *Warehouse) {
	t.Helper()
	fake, client := newFakeBQ(t)
	w, err := New(Config{ProjectID: "proj", Dataset: "bq_raw", JobRetryWait: time.Millisecond}, client, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fake, w
}

var req = warehouse.LoadRequest{
	Table: "products", Day: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
	Bucket: "lake", Object: "raw/products/dt=2026-11-22/products.jsonl", Generation: 1700,
}

func TestLoadPartitionSendsTruncatingLoadJob(t *testing.T) {
	t.Parallel()
	fake, w := newTestWarehouse(t)
	fake.outputRows = "20"

	rows, err := w.LoadPartition(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 20 {
		t.Errorf("rows = %d, want 20", rows)
	}
	posts := fake.calls("POST", "/projects/proj/jobs")
	if len(posts) != 1 {
		t.Fatalf("%d job inserts, want 1", len(posts))
	}
	body := posts[0].Body
	if got := body["jobReference"].(map[string]any)["jobId"]; got != "shoplake_load_products_20261122_1700" {
		t.Errorf("job id = %v", got)
	}
	load := body["configuration"].(map[string]any)["load"].(map[string]any)
	want := map[string]any{
		"sourceUris":        []any{"gs://lake/raw/products/dt=2026-11-22/products.jsonl"},
		"sourceFormat":      "NEWLINE_DELIMITED_JSON",
		"writeDisposition":  "WRITE_TRUNCATE",
		"createDisposition": "CREATE_NEVER",
		"destinationTable":  map[string]any{"projectId": "proj", "datasetId": "bq_raw", "tableId": "products$20261122"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, load[k]); diff != "" {
			t.Errorf("load.%s (-want +got):\n%s", k, diff)
		}
	}
	if load["autodetect"] == true {
		t.Error("load job uses schema autodetection")
	}
	fields := load["schema"].(map[string]any)["fields"].([]any)
	var names []string
	for _, f := range fields {
		names = append(names, f.(map[string]any)["name"].(string))
	}
	if diff := cmp.Diff([]string{"id", "title", "price", "description", "category", "image", "rating", "dt", "_extracted_at", "_run_id"}, names); diff != "" {
		t.Errorf("schema columns (-want +got):\n%s", diff)
	}
}

func TestLoadPartitionRetryReusesTheJob(t *testing.T) {
	t.Parallel()
	fake, w := newTestWarehouse(t)
	fake.outputRows = "20"
	for i := 0; i < 2; i++ {
		if _, err := w.LoadPartition(context.Background(), req); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if n := len(fake.jobs); n != 1 {
		t.Errorf("%d jobs created, want 1 (the retry must reuse the job)", n)
	}
	if n := len(fake.calls("GET", "/jobs/shoplake_load_products_20261122_1700")); n == 0 {
		t.Error("retry did not fetch the existing job")
	}
}

// TestLoadJobFailures: a load job BigQuery failed for a transient reason is
// run again under the next id of the generation's sequence, at most three
// new jobs a call; a redelivered call goes on from there. A job that refused
// the data ends the load as invalid data.
func TestLoadJobFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		reasons   []string // of the jobs that fail, in order
		wantCalls []string // each call's error ("" for success, "invalid" for ErrInvalidData, else transient)
		wantJobs  []string // suffixes of the jobs created
	}{
		{"succeeds", nil, []string{""}, []string{""}},
		{"one server failure", []string{"backendError"}, []string{""}, []string{"", "_retry1"}},
		{"rate limits, then a redelivery", []string{"rateLimitExceeded", "backendError", "internalError"},
			[]string{"transient", ""}, []string{"", "_retry1", "_retry2", "_retry3"}},
		{"bad data", []string{"invalid"}, []string{"invalid"}, []string{""}},
		{"a server failure, then bad data", []string{"backendError", "invalid"}, []string{"invalid"}, []string{"", "_retry1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake, w := newTestWarehouse(t)
			fake.outputRows = "20"
			fake.jobErrors = tc.reasons
			for i, want := range tc.wantCalls {
				rows, err := w.LoadPartition(context.Background(), req)
				switch {
				case want == "" && (err != nil || rows != 20):
					t.Errorf("call %d = %d, %v; want 20 rows", i+1, rows, err)
				case want == "invalid" && !errors.Is(err, warehouse.ErrInvalidData):
					t.Errorf("call %d: %v, want ErrInvalidData", i+1, err)
				case want == "transient" && (err == nil || errors.Is(err, warehouse.ErrInvalidData)):
					t.Errorf("call %d: %v, want a transient error", i+1, err)
				}
			}
			var want []string
			for _, suffix := range tc.wantJobs {
				want = append(want, LoadJobID(req)+suffix)
			}
			fake.mu.Lock()
			got := slices.Sorted(maps.Keys(fake.jobs))
			fake.mu.Unlock()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("jobs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadRedeliveryDoesNotWaitOnEarlierJobs: a redelivered load walks past
// the jobs an earlier call ran and saw fail without backing off again; it
// waits only after a job it started itself.
func TestLoadRedeliveryDoesNotWaitOnEarlierJobs(t *testing.T) {
	t.Parallel()
	fake, client := newFakeBQ(t)
	fake.outputRows = "20"
	fake.jobErrors = []string{"backendError", "backendError", "backendError"}
	first, err := New(Config{ProjectID: "proj", Dataset: "bq_raw", JobRetryWait: time.Millisecond}, client, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.LoadPartition(context.Background(), req); err == nil {
		t.Fatal("first delivery succeeded, want three failed jobs and a transient error")
	}
	patient, err := New(Config{ProjectID: "proj", Dataset: "bq_raw", JobRetryWait: time.Hour}, client, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rows, err := patient.LoadPartition(ctx, req); err != nil || rows != 20 {
		t.Errorf("redelivery = %d, %v; want 20 rows from the next job without waiting", rows, err)
	}
}

// A replay from the lake loads a generation loaded before: its job is a new
// one, and a retried replay reuses that.
func TestLoadPartitionReplayRunsAJobOfItsOwn(t *testing.T) {
	t.Parallel()
	fake, w := newTestWarehouse(t)
	fake.outputRows = "20"
	replay := req
	replay.Replay = "replay-20261125T0500Z"
	for _, r := range []warehouse.LoadRequest{req, replay, replay} {
		if _, err := w.LoadPartition(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(fake.jobs); n != 2 {
		t.Errorf("%d jobs created, want 2 (the original and the replay)", n)
	}
	if got, want := LoadJobID(replay), "shoplake_load_products_20261122_1700_replay_replay-20261125T0500Z"; got != want {
		t.Errorf("replay job id %q, want %q", got, want)
	}
}

func TestLoadPartitionUnknownTable(t *testing.T) {
	t.Parallel()
	_, w := newTestWarehouse(t)
	r := req
	r.Table = "orders"
	if _, err := w.LoadPartition(context.Background(), r); err == nil || !strings.Contains(err.Error(), `no schema for table "orders"`) {
		t.Errorf("error = %v", err)
	}
}

func TestLoadedQueriesWithParameters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		count string
		want  bool
	}{{"0", false}, {"1", true}} {
		fake, w := newTestWarehouse(t)
		fake.count = tc.count
		got, err := w.Loaded(context.Background(), "gs://lake/raw/x", "md5==")
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("count %s: Loaded = %v", tc.count, got)
		}
		q := fake.calls("POST", "/projects/proj/queries")
		if len(q) != 1 {
			t.Fatalf("%d queries", len(q))
		}
		sql := q[0].Body["query"].(string)
		if !strings.Contains(sql, "`proj.bq_raw._load_metadata`") || strings.Contains(sql, "gs://lake") {
			t.Errorf("query %q must name the table and take the object as a parameter", sql)
		}
		if q[0].Body["useLegacySql"] != false {
			t.Errorf("query does not use standard SQL: %v", q[0].Body["useLegacySql"])
		}
		params, _ := q[0].Body["queryParameters"].([]any)
		if len(params) != 2 {
			t.Errorf("query parameters = %v", params)
		}
	}
}

func TestRecordRunAndLoadUseInsertIDs(t *testing.T) {
	t.Parallel()
	fake, w := newTestWarehouse(t)
	at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	if err := w.RecordRun(context.Background(), warehouse.Run{RunID: "r1", Function: "IngestBatch", StartedAt: at, FinishedAt: at, Status: "succeeded", RecordsIn: 30}); err != nil {
		t.Fatal(err)
	}
	if err := w.RecordLoad(context.Background(), warehouse.LoadRecord{ObjectName: "gs://lake/o", Generation: 7, MD5: "m", Entity: "products", PartitionDate: "2026-11-22", RowCount: 20, RunID: "r2", LoadedAt: at}); err != nil {
		t.Fatal(err)
	}
	runs := fake.calls("POST", "/datasets/bq_raw/tables/pipeline_runs/insertAll")
	loads := fake.calls("POST", "/datasets/bq_raw/tables/_load_metadata/insertAll")
	if len(runs) != 1 || len(loads) != 1 {
		t.Fatalf("insertAll calls: runs %d, loads %d", len(runs), len(loads))
	}
	runRow := runs[0].Body["rows"].([]any)[0].(map[string]any)
	runJSON := runRow["json"].(map[string]any)
	if runRow["insertId"] != "r1" || fmt.Sprint(runJSON["records_in"]) != "30" || runJSON["started_at"] != "2026-11-22T06:00:00Z" || runJSON["function_name"] != "IngestBatch" {
		t.Errorf("run row = %v", runRow)
	}
	loadRow := loads[0].Body["rows"].([]any)[0].(map[string]any)
	wantLoad := map[string]any{"object_name": "gs://lake/o", "md5": "m", "entity": "products", "partition_date": "2026-11-22", "run_id": "r2"}
	for k, v := range wantLoad {
		if loadRow["json"].(map[string]any)[k] != v {
			t.Errorf("load row %s = %v, want %v", k, loadRow["json"].(map[string]any)[k], v)
		}
	}
	if loadRow["insertId"] != "gs://lake/o#7" {
		t.Errorf("load insert id = %v", loadRow["insertId"])
	}
}

func TestInsertErrorsAreReturned(t *testing.T) {
	t.Parallel()
	fake, w := newTestWarehouse(t)
	fake.failInsert = 400
	err := w.RecordRun(context.Background(), warehouse.Run{RunID: "r"})
	if err == nil || !strings.Contains(err.Error(), "insert into pipeline_runs") {
		t.Errorf("error = %v", err)
	}
}
