package loadrawobject

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoplake/shoplake/internal/logtest"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// fakeWarehouse records loads in memory; its failure fields inject errors.
type fakeWarehouse struct {
	mu          sync.Mutex
	loads       []warehouse.LoadRequest
	records     []warehouse.LoadRecord
	runs        []warehouse.Run
	failLoads   failures // transient load failures still to inject
	loadErr     error    // returned by every load when set
	failRecords failures
}

// failures is how many of the next calls fail: each call uses one up.
type failures int

// next returns an error with msg while failures are left, else nil.
func (f *failures) next(msg string) error {
	if *f <= 0 {
		return nil
	}
	*f--
	return errors.New(msg)
}

func (w *fakeWarehouse) Loaded(_ context.Context, object, md5 string) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.records {
		if r.ObjectName == object && r.MD5 == md5 {
			return true, nil
		}
	}
	return false, nil
}

func (w *fakeWarehouse) LoadPartition(_ context.Context, req warehouse.LoadRequest) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.loadErr != nil {
		return 0, w.loadErr
	}
	if err := w.failLoads.next("warehouse unavailable"); err != nil {
		return 0, err
	}
	w.loads = append(w.loads, req)
	return 20, nil
}

func (w *fakeWarehouse) RecordLoad(_ context.Context, rec warehouse.LoadRecord) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.failRecords.next("insert failed"); err != nil {
		return err
	}
	w.records = append(w.records, rec)
	return nil
}

func (w *fakeWarehouse) RecordRun(_ context.Context, run warehouse.Run) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.runs = append(w.runs, run)
	return nil
}

type fakeTransform struct {
	mu      sync.Mutex
	started []string
	fail    failures
}

func (t *fakeTransform) Start(_ context.Context, reason string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.fail.next("job API unavailable"); err != nil {
		return err
	}
	t.started = append(t.started, reason)
	return nil
}

var now = time.Date(2026, 11, 23, 6, 5, 0, 0, time.UTC)

type harness struct {
	wh   *fakeWarehouse
	tr   *fakeTransform
	logs *logtest.Buffer
	url  string
	// client is the server's own: closing a test server closes the idle
	// connections of http.DefaultTransport, under parallel tests' requests.
	client *http.Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cfg, err := LoadConfig(config.Map(map[string]string{"PROJECT_ID": "proj", "RAW_BUCKET": "lake"}))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{wh: &fakeWarehouse{}, tr: &fakeTransform{}}
	var logger *slog.Logger
	logger, h.logs = logtest.New()
	fn, err := New(cfg, Deps{Warehouse: h.wh, Transform: h.tr, Logger: logger, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fn)
	t.Cleanup(srv.Close)
	h.url, h.client = srv.URL, srv.Client()
	return h
}

func objectData(name string) string {
	return fmt.Sprintf(`{"bucket":"lake","name":%q,"generation":"1700000000000001","metageneration":"1","md5Hash":"XrY7u+Ae7tCTyyK7j1rNww==","size":"4096","contentType":"application/x-ndjson","timeCreated":"2026-11-23T06:00:00.000Z"}`, name)
}

// sendBinary posts an event in binary content mode, as Eventarc delivers it.
func (h *harness) sendBinary(t *testing.T, typ, data string, at time.Time) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("ce-specversion", "1.0")
	req.Header.Set("ce-id", "evt-1")
	req.Header.Set("ce-source", "//storage.googleapis.com/projects/_/buckets/lake")
	req.Header.Set("ce-type", typ)
	req.Header.Set("ce-subject", "objects/x")
	req.Header.Set("ce-time", at.Format(time.RFC3339))
	req.Header.Set("ce-traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	return h.do(t, req)
}

// sendStructured posts an event in structured content mode.
func (h *harness) sendStructured(t *testing.T, data string) int {
	t.Helper()
	body := fmt.Sprintf(`{"specversion":"1.0","id":"evt-2","source":"//storage.googleapis.com/projects/_/buckets/lake","type":%q,"time":%q,"datacontenttype":"application/json","data":%s}`,
		EventType, now.Add(-time.Minute).Format(time.RFC3339), data)
	req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	return h.do(t, req)
}

func (h *harness) do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func ok(code int) bool { return code >= 200 && code < 300 }

const productsObject = "raw/products/dt=2026-11-23/products.jsonl"

func TestLoadsInBothContentModesAndSkipsRedelivery(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"binary", "structured"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			send := func() int {
				if mode == "binary" {
					return h.sendBinary(t, EventType, objectData(productsObject), now.Add(-time.Minute))
				}
				return h.sendStructured(t, objectData(productsObject))
			}
			for i := 0; i < 3; i++ { // first delivery, then two redeliveries
				if code := send(); !ok(code) {
					t.Fatalf("delivery %d: status %d\n%s", i+1, code, h.logs)
				}
			}
			if mode == "binary" && !strings.Contains(h.logs.String(), `"logging.googleapis.com/trace":"projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736"`) {
				t.Errorf("log entries do not carry the event's trace:\n%s", h.logs)
			}
			if len(h.wh.loads) != 1 || len(h.wh.records) != 1 || len(h.tr.started) != 1 {
				t.Fatalf("loads %d, records %d, transforms %d; want 1 each", len(h.wh.loads), len(h.wh.records), len(h.tr.started))
			}
			l := h.wh.loads[0]
			if l.Table != "products" || l.Day.Format("2006-01-02") != "2026-11-23" || l.Generation != 1700000000000001 || l.URI() != "gs://lake/"+productsObject {
				t.Errorf("load request = %+v", l)
			}
			r := h.wh.records[0]
			if r.MD5 != "XrY7u+Ae7tCTyyK7j1rNww==" || r.RowCount != 20 || r.PartitionDate != "2026-11-23" || r.RunID == "" {
				t.Errorf("load record = %+v", r)
			}
			statuses := []string{}
			for _, run := range h.wh.runs {
				statuses = append(statuses, run.Status)
			}
			if strings.Join(statuses, ",") != "succeeded,skipped,skipped" {
				t.Errorf("run statuses = %v", statuses)
			}
		})
	}
}

func TestPoisonEventsAreAcknowledgedAndRecorded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, typ, data string
		wantErr         string
	}{
		{"unknown entity", EventType, objectData("raw/orders/dt=2026-11-23/orders.jsonl"), `gs://lake/raw/orders/dt=2026-11-23/orders.jsonl: unknown entity "orders"`},
		{"bad layout under raw", EventType, objectData("raw/products/products.jsonl"), "gs://lake/raw/products/products.jsonl"},
		{"data not json", EventType, `not json`, "is not a storage object"},
		{"data is an array", EventType, `[1,2]`, "is not a storage object"},
		{"no name", EventType, `{"bucket":"lake","generation":"1","md5Hash":"x"}`, "no bucket or object name"},
		{"no generation", EventType, `{"bucket":"lake","name":"raw/products/dt=2026-11-23/products.jsonl","md5Hash":"x"}`, "no valid generation"},
		{"no md5", EventType, `{"bucket":"lake","name":"raw/products/dt=2026-11-23/products.jsonl","generation":"3"}`, "no md5Hash"},
		{"wrong type", "google.cloud.storage.object.v1.deleted", objectData(productsObject), "want \"google.cloud.storage.object.v1.finalized\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if code := h.sendBinary(t, tc.typ, tc.data, now); !ok(code) {
				t.Fatalf("status %d: poison must be acknowledged", code)
			}
			if len(h.wh.loads) != 0 {
				t.Errorf("poison event loaded %v", h.wh.loads)
			}
			if len(h.wh.runs) != 1 || h.wh.runs[0].Status != warehouse.StatusRejected || !strings.Contains(h.wh.runs[0].Error, tc.wantErr) {
				t.Errorf("runs = %+v, want one rejected run with error containing %q", h.wh.runs, tc.wantErr)
			}
			if !strings.Contains(h.logs.String(), `"severity":"ERROR"`) {
				t.Errorf("no ERROR log line:\n%s", h.logs)
			}
		})
	}
}

func TestIgnoredObjects(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		objectData("rejects/products/dt=2026-11-23/products.jsonl"),
		objectData("tmp/run-1/raw/products/dt=2026-11-23/products.jsonl"),
		objectData("raw/cart_events/dt=2026-11-23/06_00_00Z_000001-0.jsonl"),
		strings.Replace(objectData(productsObject), `"bucket":"lake"`, `"bucket":"other"`, 1),
	} {
		h := newHarness(t)
		if code := h.sendBinary(t, EventType, data, now); !ok(code) {
			t.Errorf("status %d", code)
		}
		if len(h.wh.loads) != 0 || len(h.wh.runs) != 1 || h.wh.runs[0].Status != warehouse.StatusSkipped || !strings.Contains(h.logs.String(), "ignored object") {
			t.Errorf("%s: loads %v runs %v logs %s", data, h.wh.loads, h.wh.runs, h.logs)
		}
	}
}

func TestTransientFailuresAreRedeliveredUntilLoaded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		inject func(h *harness)
	}{
		{"warehouse down twice", func(h *harness) { h.wh.failLoads = 2 }},
		{"transform start fails", func(h *harness) { h.tr.fail = 1 }},
		{"recording the load fails", func(h *harness) { h.wh.failRecords = 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tc.inject(h)
			var codes []int
			for i := 0; i < 5; i++ {
				code := h.sendBinary(t, EventType, objectData(productsObject), now)
				codes = append(codes, code)
				if ok(code) {
					break
				}
			}
			if !ok(codes[len(codes)-1]) || len(codes) < 2 {
				t.Fatalf("statuses %v: want failures, then success", codes)
			}
			if len(h.wh.records) != 1 {
				t.Errorf("recorded %d loads, want exactly 1", len(h.wh.records))
			}
			// Redelivery after success changes nothing.
			h.sendBinary(t, EventType, objectData(productsObject), now)
			if len(h.wh.records) != 1 {
				t.Errorf("after redelivery: %d records", len(h.wh.records))
			}
		})
	}
}

func TestRefusedDataIsPermanent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.wh.loadErr = fmt.Errorf("load: %w: row 3: bad", warehouse.ErrInvalidData)
	if code := h.sendBinary(t, EventType, objectData(productsObject), now); !ok(code) {
		t.Fatalf("status %d: refused data must not be redelivered forever", code)
	}
	if len(h.wh.runs) != 1 || h.wh.runs[0].Status != warehouse.StatusRejected || len(h.tr.started) != 0 {
		t.Errorf("runs %+v, transforms %v", h.wh.runs, h.tr.started)
	}
}

func TestStaleEventsAreDropped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if code := h.sendBinary(t, EventType, objectData(productsObject), now.Add(-25*time.Hour)); !ok(code) {
		t.Fatalf("status %d", code)
	}
	if len(h.wh.loads) != 0 || len(h.wh.runs) != 1 || h.wh.runs[0].Status != warehouse.StatusSkipped {
		t.Errorf("loads %v runs %+v", h.wh.loads, h.wh.runs)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(config.Map(map[string]string{"PROJECT_ID": "p", "RAW_BUCKET": "b", "TRANSFORM_JOB": "dbt", "MAX_EVENT_AGE": "forever"}))
	if err == nil || !strings.Contains(err.Error(), "TRANSFORM_JOB") || !strings.Contains(err.Error(), "MAX_EVENT_AGE") {
		t.Errorf("error = %v", err)
	}
}
