package ingestbatch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/internal/logtest"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/drift"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/pseudonym"
	"github.com/shoplake/shoplake/shared/source/connect"
	"github.com/shoplake/shoplake/shared/warehouse"
)

type fakeRuns struct {
	mu   sync.Mutex
	runs []warehouse.Run
	err  error
}

func (f *fakeRuns) RecordRun(_ context.Context, r warehouse.Run) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, r)
	return f.err
}

type harness struct {
	fn      *Function
	gcs     *storage.Client
	runs    *fakeRuns
	logs    *logtest.Buffer
	handler http.Handler
}

// testKey pseudonymises the users of these tests.
var testKey, _ = pseudonym.NewKey("ingest-test-key-0123456789")

var testNow = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, api http.Handler) *harness {
	t.Helper()
	return newHarnessEnv(t, api, nil)
}

// newHarnessEnv is newHarness with extra variables set: SOURCE_KIND and
// SOURCE_API_KEY read another kind of store.
func newHarnessEnv(t *testing.T, api http.Handler, extra map[string]string) *harness {
	t.Helper()
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	gcs := laketest.New(t, "raw", nil)

	vars := map[string]string{
		"PROJECT_ID": "proj", "RAW_BUCKET": "raw", "SOURCE_BASE_URL": apiSrv.URL,
		"SOURCE_RATE_LIMIT": "1000", "SOURCE_MAX_RETRIES": "-1", "PSEUDONYM_KEY": "ingest-test-key-0123456789",
	}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := LoadConfig(config.Map(vars))
	if err != nil {
		t.Fatal(err)
	}
	src, err := connect.New(cfg.Source, cfg.Source.HTTP.APIKey, "SOURCE_API_KEY")
	if err != nil {
		t.Fatal(err)
	}
	lw, err := lake.NewWriter(lake.Config{Bucket: "raw"}, gcs)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{gcs: gcs, runs: &fakeRuns{}}
	var logger *slog.Logger
	logger, h.logs = logtest.New()
	deps := Deps{Source: src.Client, Key: testKey, Lake: lw, Runs: h.runs, Logger: logger, Now: func() time.Time { return testNow }}
	if src.Kind != connect.FakeStore {
		deps.Store = src.Store
	}
	if h.fn, err = New(cfg, deps); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) call(t *testing.T, body string) (int, Summary, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.fn.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
	var sum Summary
	_ = json.Unmarshal(rec.Body.Bytes(), &sum)
	return rec.Code, sum, rec.Body.String()
}

// objects returns every object in the bucket with its body.
func (h *harness) objects(t *testing.T) map[string]string {
	t.Helper()
	return laketest.Objects(t, h.gcs.Bucket("raw"))
}

func TestIngestFixturesAndRerun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, storefront.NewServer(storefront.Fixtures()))

	code, first, body := h.call(t, "")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	want := []EntityResult{
		{Entity: "products", Fetched: 20, Valid: 20, Object: "raw/products/dt=2026-11-23/products.jsonl", Drift: &drift.Report{Records: 20}},
		{Entity: "users", Fetched: 10, Valid: 10, Object: "raw/users/dt=2026-11-23/users.jsonl", Drift: &drift.Report{Records: 10}},
	}
	ignore := func(rs []EntityResult) []EntityResult {
		out := append([]EntityResult(nil), rs...)
		for i := range out {
			out[i].Generation, out[i].DurationMillis = 0, 0
		}
		return out
	}
	if diff := cmp.Diff(want, ignore(first.Entities)); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	objs := h.objects(t)
	if n := strings.Count(objs[want[0].Object], "\n"); n != 20 {
		t.Errorf("products object has %d lines, want 20", n)
	}

	code, second, _ := h.call(t, `{"entities":["users","products"]}`)
	if code != http.StatusOK {
		t.Fatalf("second status %d", code)
	}
	for _, e := range second.Entities {
		if !e.Unchanged {
			t.Errorf("second run rewrote %s", e.Entity)
		}
	}
	for _, e := range first.Entities {
		for _, e2 := range second.Entities {
			if e.Entity == e2.Entity && e.Generation != e2.Generation {
				t.Errorf("%s generation changed %d -> %d", e.Entity, e.Generation, e2.Generation)
			}
		}
	}
	if diff := cmp.Diff(objs, h.objects(t)); diff != "" {
		t.Errorf("second run changed the bucket (-before +after):\n%s", diff)
	}
	if len(h.runs.runs) != 2 || h.runs.runs[0].Status != warehouse.StatusSucceeded || h.runs.runs[0].RecordsIn != 30 {
		t.Errorf("pipeline runs = %+v", h.runs.runs)
	}
}

// TestSchemaDriftIsReportedAndLoaded: a source that adds a field and stops
// sending another is named in the summary and the log, and every record is
// still written.
func TestSchemaDriftIsReportedAndLoaded(t *testing.T) {
	t.Parallel()
	products := `[{"id":1,"title":"a","price":1.5,"category":"c","description":"d","rating":{"rate":4,"count":2},"colour":"red"},` +
		`{"id":2,"title":"b","price":"2","category":"c","description":"d","rating":{"rate":4,"count":2},"colour":"blue"}]`
	h := newHarness(t, storefront.NewServer(storefront.Raw(map[string]string{"products": products})))

	code, sum, body := h.call(t, `{"entities":["products"]}`)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	want := &drift.Report{Records: 2,
		Added:   []drift.Field{{Path: "colour", Count: 2, Type: drift.TypeString}},
		Missing: []drift.Field{{Path: "image", Count: 2, Of: 2}},
		Retyped: []drift.Field{{Path: "price", Count: 1, Type: drift.TypeString, Want: drift.TypeNumber}},
	}
	if diff := cmp.Diff(want, sum.Entities[0].Drift); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
	if e := sum.Entities[0]; e.Valid != 1 || e.Rejected != 1 {
		t.Errorf("valid %d rejected %d, want the string price rejected by the model and the other written", e.Valid, e.Rejected)
	}
	for _, s := range []string{`"message":"schema drift"`, "added colour (string) in 2 of 2", "stopped arriving image"} {
		if !strings.Contains(h.logs.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, h.logs.String())
		}
	}
	if len(h.runs.runs) != 1 || !strings.Contains(h.runs.runs[0].Details, `"added":[{"path":"colour"`) {
		t.Errorf("pipeline run details lack the drift: %+v", h.runs.runs)
	}
}

func TestIngestQuarantinesInvalidRecords(t *testing.T) {
	t.Parallel()
	products := `[` +
		`{"id":1,"title":"ok","price":1.5,"category":"c"},` +
		`{"title":"missing id","price":1,"category":"c"},` +
		`{"id":3,"title":"","price":1,"category":"c"},` +
		`{"id":4,"title":"negative","price":-2,"category":"c"},` +
		`"not an object",` +
		`{"id":6,"title":"ok too","price":0,"category":"c"},` +
		`{"id":1,"title":"listed again","price":9,"category":"c"}]`
	users := `[{"id":1,"email":"a@b.co","username":"a","password":"hunter2-valid"},` +
		`{"id":2,"email":"not-an-email","username":"b","password":"hunter2-invalid"},` +
		`{"id":1,"email":"a@b.co","username":"a","password":"hunter2-repeated"}]`
	h := newHarness(t, storefront.NewServer(storefront.Raw(map[string]string{"products": products, "users": users})))

	code, sum, body := h.call(t, "")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	got := map[string][3]int64{}
	for _, e := range sum.Entities {
		got[e.Entity] = [3]int64{e.Fetched, e.Valid, e.Rejected}
		if e.Fetched != e.Valid+e.Rejected {
			t.Errorf("%s: fetched %d != valid %d + rejected %d", e.Entity, e.Fetched, e.Valid, e.Rejected)
		}
		var byReason int64
		for _, n := range e.RejectReasons {
			byReason += n
		}
		if byReason != e.Rejected {
			t.Errorf("%s: reject reasons %v count %d of %d rejected", e.Entity, e.RejectReasons, byReason, e.Rejected)
		}
	}
	if diff := cmp.Diff(map[string][3]int64{"products": {7, 2, 5}, "users": {3, 1, 2}}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}

	objs := h.objects(t)
	rejects := objs["rejects/products/dt=2026-11-23/products.jsonl"]
	for _, reason := range []string{"id fails gt=0", "title fails notblank", "price fails gte=0", "products element is not a JSON object",
		"products: invalid record: id listed again in the same listing; the first listing is kept"} {
		if !strings.Contains(rejects, reason) {
			t.Errorf("product rejects lack reason %q:\n%s", reason, rejects)
		}
	}
	if n := strings.Count(rejects, "\n"); n != 5 {
		t.Errorf("product rejects have %d lines, want 5", n)
	}
	// The first listing of product 1 is the one published.
	if snap := objs["raw/products/dt=2026-11-23/products.jsonl"]; strings.Count(snap, `"id":1,`) != 1 || !strings.Contains(snap, `"price":1.5`) {
		t.Errorf("products snapshot = %s, want product 1 once, as first listed", snap)
	}
	for _, reason := range []string{"email fails email", "users: invalid record: id listed again"} {
		if !strings.Contains(objs["rejects/users/dt=2026-11-23/users.jsonl"], reason) {
			t.Errorf("user rejects lack reason %q: %v", reason, objs)
		}
	}
	assertNoSecret(t, "hunter2", h, body)
}

// TestNoFixturePasswordIsWrittenAnywhere runs the real FakeStore users, valid
// and then made invalid, and looks for every fixture password in every object,
// log line, response and pipeline run.
// E-mail addresses and the pseudonymisation key are kept out the same way:
// valid users hold only the pseudonym, and rejected ones lose the address.
func TestNoFixturePasswordIsWrittenAnywhere(t *testing.T) {
	t.Parallel()
	var users []map[string]any
	if err := storefront.DecodeFixtures("users", &users); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"ingest-test-key-0123456789"}
	for _, u := range users {
		secrets = append(secrets, u["password"].(string), u["email"].(string))
	}
	// Half the users made invalid, so their secrets also meet the rejects path.
	for i := range users[:5] {
		users[i]["username"] = " "
	}
	broken, _ := json.Marshal(users)
	api := storefront.NewServer(storefront.Raw(map[string]string{"users": string(broken)}))

	h := newHarness(t, api)
	_, _, body := h.call(t, `{"entities":["users"]}`)
	h2 := newHarness(t, storefront.NewServer(storefront.Fixtures()))
	_, _, body2 := h2.call(t, "")
	for _, secret := range secrets {
		assertNoSecret(t, secret, h, body)
		assertNoSecret(t, secret, h2, body2)
	}
	if len(h.objects(t)) != 2 {
		t.Errorf("want a users snapshot and its rejects, got %v", h.objects(t))
	}
}

func assertNoSecret(t *testing.T, secret string, h *harness, response string) {
	t.Helper()
	for name, body := range h.objects(t) {
		if strings.Contains(body, secret) || strings.Contains(body, `"password"`) || strings.Contains(body, `"email"`) {
			t.Errorf("object %s contains a password, an e-mail address or the key", name)
		}
	}
	if strings.Contains(h.logs.String(), secret) {
		t.Error("logs contain a password, an e-mail address or the key")
	}
	if strings.Contains(response, secret) {
		t.Error("response contains a password, an e-mail address or the key")
	}
	for _, r := range h.runs.runs {
		if strings.Contains(r.Details+r.Error, secret) {
			t.Error("pipeline run contains a password, an e-mail address or the key")
		}
	}
}

func TestIngestSourceFailureWritesNothingPartial(t *testing.T) {
	t.Parallel()
	fixtures := storefront.NewServer(storefront.Fixtures())
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/users" {
			// Headers and half a body, then the connection drops.
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`[{"id":1,"email":"a@b.co","username":"a"},{"id":`))
			panic(http.ErrAbortHandler)
		}
		fixtures.ServeHTTP(w, r)
	})
	h := newHarness(t, api)

	code, sum, body := h.call(t, "")
	if code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", code, body)
	}
	if sum.Status != warehouse.StatusFailed || len(sum.Entities) != 2 {
		t.Fatalf("summary = %+v", sum)
	}
	if p := sum.Entities[0]; p.Error != "" || p.Valid != 20 {
		t.Errorf("products should have succeeded: %+v", p)
	}
	if u := sum.Entities[1]; !strings.Contains(u.Error, "source failed: users") || u.Object != "" {
		t.Errorf("users should have failed naming the source: %+v", u)
	}
	objs := h.objects(t)
	if _, ok := objs["raw/users/dt=2026-11-23/users.jsonl"]; ok || len(objs) != 1 {
		t.Errorf("bucket after failure = %v, want only the products snapshot", keys(objs))
	}
	if r := h.runs.runs[0]; r.Status != warehouse.StatusFailed || !strings.Contains(r.Error, "users") {
		t.Errorf("pipeline run = %+v", r)
	}
}

// TestCollapsedSnapshotIsHeldBack: after a full snapshot, a listing that
// comes back empty, or whose records are all invalid, publishes nothing, and
// the error says which of the two it was.
func TestCollapsedSnapshotIsHeldBack(t *testing.T) {
	t.Parallel()
	var products []map[string]any
	if err := storefront.DecodeFixtures("products", &products); err != nil {
		t.Fatal(err)
	}
	for _, p := range products {
		p["price"] = fmt.Sprint(p["price"])
	}
	asStrings, _ := json.Marshal(products)
	cases := []struct {
		name, products string
		want           []string
	}{
		{"empty", `[]`, []string{"products came back empty where the last accepted listing had 20", "call with allow_shrink to accept it"}},
		{"every record invalid", string(asStrings), []string{
			"products kept no record where the last accepted listing had 20: the 20 the source sent were all rejected as invalid",
			`rejected: 20 decode products: field \"price\": expected float64, got JSON string (see rejects/products/dt=2026-11-23/products.jsonl)`,
			"allow_shrink would publish the 0 valid records only",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var broken atomic.Bool
			fixtures := storefront.NewServer(storefront.Fixtures())
			changed := storefront.NewServer(storefront.Raw(map[string]string{"products": tc.products}))
			h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if broken.Load() {
					changed.ServeHTTP(w, r)
					return
				}
				fixtures.ServeHTTP(w, r)
			}))
			if code, _, body := h.call(t, `{"entities":["products"]}`); code != http.StatusOK {
				t.Fatalf("first run: status %d: %s", code, body)
			}
			before := h.objects(t)["raw/products/dt=2026-11-23/products.jsonl"]
			broken.Store(true)
			code, _, body := h.call(t, `{"entities":["products"]}`)
			if code != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %s", code, body)
			}
			for _, want := range tc.want {
				if !strings.Contains(body, want) {
					t.Errorf("answer lacks %q:\n%s", want, body)
				}
			}
			if after := h.objects(t)["raw/products/dt=2026-11-23/products.jsonl"]; after != before {
				t.Error("the published snapshot changed")
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestIngestBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, storefront.NewServer(storefront.Fixtures()))
	cases := []struct{ name, body, want string }{
		{"not json", `entities=products`, "body must be JSON"},
		{"unknown field", `{"entity":"products"}`, `unknown field "entity"`},
		{"unknown entity", `{"entities":["orders"]}`, `unknown entity "orders"`},
		{"bad date", `{"date":"23/11/2026"}`, `date "23/11/2026" is not YYYY-MM-DD`},
		{"future date", `{"date":"2030-01-01"}`, "is in the future"},
		{"trailing data", `{} {}`, "data after the JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := h.call(t, tc.body)
			var resp struct{ Error string }
			_ = json.Unmarshal([]byte(body), &resp)
			if code != http.StatusBadRequest || !strings.Contains(resp.Error, tc.want) {
				t.Errorf("got %d %s, want 400 containing %q", code, body, tc.want)
			}
		})
	}
	if objs := h.objects(t); len(objs) != 0 {
		t.Errorf("bad requests wrote %v", keys(objs))
	}
}

func TestIngestBackfillDate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, storefront.NewServer(storefront.Fixtures()))
	code, sum, _ := h.call(t, `{"entities":["products"],"date":"2026-01-15"}`)
	if code != http.StatusOK || sum.Date != "2026-01-15" || sum.Entities[0].Object != "raw/products/dt=2026-01-15/products.jsonl" {
		t.Errorf("got %d %+v", code, sum)
	}
}

func TestLoadConfigNamesEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(config.Map(map[string]string{
		"SOURCE_BASE_URL": "fakestoreapi.com", "SOURCE_TIMEOUT": "soon", "LOG_LEVEL": "loud",
	}))
	if err == nil {
		t.Fatal("LoadConfig succeeded")
	}
	for _, want := range []string{"RAW_BUCKET", "PROJECT_ID", "SOURCE_BASE_URL", "SOURCE_TIMEOUT", "LOG_LEVEL", "PSEUDONYM_KEY_SECRET"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

// TestRunTimeoutEndsAStalledIngest: a source whose users listing answers and
// then drips its body ends the call at RUN_TIMEOUT, as a 502 whose summary
// names the setting; the products read before it are published, the users
// snapshot is not.
func TestRunTimeoutEndsAStalledIngest(t *testing.T) {
	t.Parallel()
	fixtures := storefront.NewServer(storefront.Fixtures())
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/users" {
			fixtures.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rec.Body.WriteString(strings.Repeat(" ", 1<<20)) // white space, a byte every 100 ms
		storefront.Trickle(w, r, rec, 100*time.Millisecond)
	})
	h := newHarnessEnv(t, api, map[string]string{"RUN_TIMEOUT": "1s", "SOURCE_TIMEOUT": "10s"})
	began := time.Now()
	code, sum, body := h.call(t, "")
	if took := time.Since(began); took > 4*time.Second {
		t.Errorf("the call took %s with RUN_TIMEOUT 1s", took)
	}
	if code != http.StatusBadGateway || len(sum.Entities) != 2 || sum.Entities[0].Error != "" ||
		!strings.Contains(sum.Entities[1].Error, "IngestBatch stopped after RUN_TIMEOUT (1s)") {
		t.Fatalf("status %d: %s; want 502 with users stopped at RUN_TIMEOUT", code, body)
	}
	objs := h.objects(t)
	if _, ok := objs["raw/products/dt=2026-11-23/products.jsonl"]; !ok {
		t.Errorf("products not published: %v", objs)
	}
	if _, ok := objs["raw/users/dt=2026-11-23/users.jsonl"]; ok {
		t.Error("a users snapshot was published from a listing cut off by the run timeout")
	}
	if len(h.runs.runs) != 1 || !strings.Contains(h.runs.runs[0].Error, "RUN_TIMEOUT") {
		t.Errorf("recorded runs %+v, want one naming RUN_TIMEOUT", h.runs.runs)
	}
}
