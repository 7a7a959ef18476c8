package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/pseudonym"
)

// TestMain lets the test binary act as the runner: each run is a fresh
// process, as `make run` is, because functions-framework's registry is
// process-wide.
func TestMain(m *testing.M) {
	if os.Getenv("SHOPLAKE_AS_RUNNER") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	if baseline.dir != "" {
		os.RemoveAll(baseline.dir)
	}
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// runner returns the command that runs the local runner: this test binary,
// run again as main. Under -short it skips the test instead, so that make
// test can run the package's other tests under the race detector quickly.
func runner(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SHOPLAKE_AS_RUNNER=1")
	return cmd
}

func runLocal(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := runner(t, append([]string{"--dir", dir}, args...)...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// openWarehouse opens the run's DuckDB warehouse; the caller closes it
// before the next run, which needs the file to itself.
func openWarehouse(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func counts(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	out := map[string]int64{}
	for _, table := range []string{"products", "users"} {
		var n int64
		if err := db.QueryRow("select count(*) from bq_raw." + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func lastRun(t *testing.T, dir string) Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "last-run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// dbtArgs passes the project's dbt to the runner when make test provides it.
func dbtArgs() []string {
	if dbt := os.Getenv("SHOPLAKE_DBT"); dbt != "" {
		return []string{"--dbt", dbt, "--dbt-project", "../../dbt"}
	}
	return nil
}

func TestRunFixturesTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	first := runLocal(t, dir, nil, append([]string{"--port", "0"}, dbtArgs()...)...)
	if first.code != 0 {
		t.Fatalf("first run exit %d\nstdout:\n%s\nstderr:\n%s", first.code, first.stdout, first.stderr)
	}
	if diff := cmp.Diff(map[string]int64{"products": 20, "users": 10}, counts(t, dir)); diff != "" {
		t.Errorf("after first run (-want +got):\n%s", diff)
	}
	s1 := lastRun(t, dir)
	if len(s1.Deliveries) != 2 || s1.NothingChanged {
		t.Errorf("first run: deliveries %v, nothing changed %v", s1.Deliveries, s1.NothingChanged)
	}
	if p := s1.Polls[0]; p.Poll.Published != 7 || p.Push.Events != 7 || p.Push.Acked != 1 || s1.Streaming.CartEventRows != 7 {
		t.Errorf("first run streamed %+v, %+v; want 7 published, 7 events acked in 1 message, 7 rows", p, s1.Streaming)
	}

	var martsBefore map[string]string
	if os.Getenv("SHOPLAKE_DBT") != "" {
		assertMartsMatchTheFixtures(t, dir)
		martsBefore = martDigests(t, dir)
		// Every raw source was just written: dbt must judge each fresh.
		fresh := map[string]string{}
		for _, f := range s1.DBT.Freshness {
			fresh[f.Source] = f.Status
		}
		want := map[string]string{"bq_raw.cart_events": "pass", "bq_raw.products": "pass", "bq_raw.users": "pass"}
		if diff := cmp.Diff(want, fresh); diff != "" || !strings.Contains(first.stdout, "source freshness: bq_raw.cart_events pass") {
			t.Errorf("source freshness (-want +got):\n%s\nstdout:\n%s", diff, first.stdout)
		}
	}

	second := runLocal(t, dir, nil, append([]string{"--port", "0"}, dbtArgs()...)...)
	if second.code != 0 {
		t.Fatalf("second run exit %d: %s", second.code, second.stderr)
	}
	s2 := lastRun(t, dir)
	if !s2.NothingChanged || len(s2.Deliveries) != 0 || !strings.Contains(second.stdout, "Nothing changed") {
		t.Errorf("second run should say nothing changed:\n%s", second.stdout)
	}
	for i, e := range s2.Ingest.Entities {
		if !e.Unchanged || e.Generation != s1.Ingest.Entities[i].Generation {
			t.Errorf("%s rewritten: generation %d -> %d", e.Entity, s1.Ingest.Entities[i].Generation, e.Generation)
		}
	}
	if diff := cmp.Diff(map[string]int64{"products": 20, "users": 10}, counts(t, dir)); diff != "" {
		t.Errorf("after second run (-want +got):\n%s", diff)
	}
	if p := s2.Polls[0]; p.Poll.Published != 0 || p.Push.Delivered != 0 || s2.Streaming.CartEventRows != 7 {
		t.Errorf("second run streamed %+v, %+v; want nothing published and still 7 rows", p, s2.Streaming)
	}
	assertNoFixturePassword(t, dir)
	if martsBefore != nil {
		if diff := cmp.Diff(martsBefore, martDigests(t, dir)); diff != "" {
			t.Errorf("a second run changed the marts (-before +after):\n%s", diff)
		}
		assertDuplicateEventsChangeNothing(t, dir, martsBefore)
	}
}

// assertMartsMatchTheFixtures checks the marts against figures computed here,
// independently, from the FakeStore fixtures: one order per cart, one item
// per cart line, and revenue = Σ quantity × price.
func assertMartsMatchTheFixtures(t *testing.T, dir string) {
	t.Helper()
	var products []struct {
		ID    int64
		Price float64
	}
	var carts []struct {
		ID       int64
		Products []struct{ ProductID, Quantity int64 }
	}
	for entity, v := range map[string]any{"products": &products, "carts": &carts} {
		if err := storefront.DecodeFixtures(entity, v); err != nil {
			t.Fatal(err)
		}
	}
	price := map[int64]float64{}
	for _, p := range products {
		price[p.ID] = p.Price
	}
	lines, byCart := 0, map[int64]float64{}
	var total float64
	for _, c := range carts {
		for _, l := range c.Products {
			lines++
			byCart[c.ID] += float64(l.Quantity) * price[l.ProductID]
			total += float64(l.Quantity) * price[l.ProductID]
		}
	}
	db := openWarehouse(t, dir)
	defer db.Close()
	want := map[string]int64{"dim_products": 20, "dim_users": 10, "fact_orders": 7, "fact_order_items": int64(lines)}
	for table, n := range want {
		var got int64
		if err := db.QueryRow("select count(*) from bq_analytics." + table).Scan(&got); err != nil || got != n {
			t.Errorf("%s has %d rows (%v), want %d", table, got, err, n)
		}
	}
	rows, err := db.Query("select cart_id, revenue::double from bq_analytics.fact_orders where not is_deleted")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sum float64
	for rows.Next() {
		var id int64
		var rev float64
		if err := rows.Scan(&id, &rev); err != nil {
			t.Fatal(err)
		}
		sum += rev
		if d := rev - byCart[id]; d > 0.005 || d < -0.005 {
			t.Errorf("cart %d revenue %.2f, computed by hand %.2f", id, rev, byCart[id])
		}
	}
	if d := sum - total; d > 0.005 || d < -0.005 || fmt.Sprintf("%.2f", total) != "4691.27" {
		t.Errorf("revenue %.2f, by hand %.2f (the fixtures' README says 4691.27)", sum, total)
	}
	var undated int64
	if err := db.QueryRow("select count(*) from bq_analytics.fact_orders o left join bq_analytics.dim_date d on o.order_date = d.date_day where d.date_day is null").Scan(&undated); err != nil || undated != 0 {
		t.Errorf("%d orders have no dim_date row (%v)", undated, err)
	}
}

// martDigests returns a digest of every mart's content.
func martDigests(t *testing.T, dir string) map[string]string {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	out := map[string]string{}
	for _, m := range dbtrun.Marts {
		var d sql.NullString
		q := "select md5(string_agg(r, '|' order by r)) from (select cast(t as varchar) as r from bq_analytics." + m + " t)"
		if err := db.QueryRow(q).Scan(&d); err != nil {
			t.Fatal(err)
		}
		out[m] = d.String
	}
	return out
}

// assertDuplicateEventsChangeNothing stores a second delivery of every event
// in raw, rebuilds the marts, and expects them unchanged.
func assertDuplicateEventsChangeNothing(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	db := openWarehouse(t, dir)
	if _, err := db.Exec("insert into bq_raw.cart_events select * replace (message_id || '-redelivered' as message_id) from bq_raw.cart_events"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cmd := exec.Command(os.Getenv("SHOPLAKE_DBT"), "build", "--target", "local", "--project-dir", "../../dbt", "--profiles-dir", "../../dbt",
		"--target-path", filepath.Join(dir, "dbt", "target"), "--log-path", filepath.Join(dir, "dbt", "logs"))
	cmd.Env = append(os.Environ(), "SHOPLAKE_DUCKDB_PATH="+filepath.Join(dir, "warehouse.duckdb"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dbt build: %v\n%s", err, out)
	}
	if diff := cmp.Diff(before, martDigests(t, dir)); diff != "" {
		t.Errorf("raw duplicates changed the marts (-before +after):\n%s", diff)
	}
}

// assertNoFixturePassword looks for every FakeStore fixture password and
// e-mail address in every file the runner wrote and in every row of every
// warehouse table.
func assertNoFixturePassword(t *testing.T, dir string) {
	t.Helper()
	var users bytes.Buffer
	if _, _, err := storefront.Fixtures().WriteEntity(&users, "users"); err != nil {
		t.Fatal(err)
	}
	var fixture []struct{ Password, Email string }
	if err := json.Unmarshal(users.Bytes(), &fixture); err != nil {
		t.Fatal(err)
	}
	var haystack bytes.Buffer
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(path, ".duckdb") {
			b, _ := os.ReadFile(path)
			haystack.Write(b)
		}
		return err
	})
	db := openWarehouse(t, dir)
	defer db.Close()
	for _, table := range []string{"products", "users", "_load_metadata", "pipeline_runs"} {
		var dump sql.NullString
		if err := db.QueryRow(`select string_agg(cast(t as varchar), '\n') from bq_raw."` + table + `" t`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		haystack.WriteString(dump.String)
	}
	if !strings.Contains(haystack.String(), "johnd") {
		t.Fatal("the search saw no user data; it would find nothing")
	}
	for _, u := range fixture {
		if u.Password == "" || strings.Contains(haystack.String(), u.Password) {
			t.Errorf("a fixture password (%d chars) was written", len(u.Password))
		}
		if u.Email == "" || strings.Contains(haystack.String(), u.Email) {
			t.Errorf("a fixture e-mail address (%d chars) was written", len(u.Email))
		}
	}
}

func TestRunQuarantinesInvalidRecordsFromAnExternalSource(t *testing.T) {
	t.Parallel()
	api := httptest.NewServer(storefront.NewServer(storefront.Raw(map[string]string{
		"products": `[{"id":1,"title":"ok","price":2,"category":"c"},` +
			`{"title":"no id","price":1,"category":"c"},` +
			`{"id":3,"title":"","price":1,"category":"c"},` +
			`{"id":4,"title":"neg","price":-1,"category":"c"},` +
			`7]`,
		"users": `[{"id":1,"email":"a@b.co","username":"a","password":"pw-1"},{"id":2,"email":"nope","username":"b","password":"pw-2"}]`,
		// The zero date of many backends, and a far future one.
		"carts": `[{"id":1,"userId":1,"date":"2020-03-02T00:00:00.000Z","products":[{"productId":1,"quantity":1}]},` +
			`{"id":2,"userId":1,"date":"0001-01-01T00:00:00.000Z","products":[{"productId":1,"quantity":1}]},` +
			`{"id":3,"userId":1,"date":"9999-12-31T00:00:00.000Z","products":[]}]`,
	})))
	defer api.Close()
	dir := t.TempDir()

	r := runLocal(t, dir, []string{"SOURCE_BASE_URL=" + api.URL}, "--port", "0")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if diff := cmp.Diff(map[string]int64{"products": 1, "users": 1}, counts(t, dir)); diff != "" {
		t.Errorf("valid rows (-want +got):\n%s", diff)
	}
	s := lastRun(t, dir)
	for _, e := range s.Entities {
		if e.Fetched != e.Valid+e.Rejected {
			t.Errorf("%s: %d fetched != %d valid + %d rejected", e.Entity, e.Fetched, e.Valid, e.Rejected)
		}
	}
	if s.Entities[0].Rejected != 4 || s.Entities[1].Rejected != 1 {
		t.Errorf("rejected = %d products, %d users", s.Entities[0].Rejected, s.Entities[1].Rejected)
	}
	day := s.Ingest.Date
	rejects, err := os.ReadFile(filepath.Join(dir, "gcs", names.Bucket, "rejects", "products", "dt="+day, "products.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"id fails gt=0", "title fails notblank", "price fails gte=0", "not a JSON object"} {
		if !strings.Contains(string(rejects), reason) {
			t.Errorf("rejects lack %q", reason)
		}
	}
	userRejects, _ := os.ReadFile(filepath.Join(dir, "gcs", names.Bucket, "rejects", "users", "dt="+day, "users.jsonl"))
	if !strings.Contains(string(userRejects), "email fails email") {
		t.Errorf("user rejects = %s", userRejects)
	}
	if p := s.Polls[0].Poll; p.Valid != 1 || p.Rejected != 2 || p.Published != 1 {
		t.Errorf("poll %+v, want the 2 carts dated outside 1970-2099 rejected", p)
	}
	cartRejects, _ := os.ReadFile(filepath.Join(dir, "gcs", names.Bucket, "rejects", "carts", "dt="+day, "carts.jsonl"))
	if n := strings.Count(string(cartRejects), "date fails from1970to2099"); n != 2 {
		t.Errorf("cart rejects name the date %d times, want 2:\n%s", n, cartRejects)
	}
	// No password anywhere on disk.
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(path, ".duckdb") {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte("pw-1")) || bytes.Contains(b, []byte("pw-2")) {
			t.Errorf("%s contains a source password", path)
		}
		return nil
	})
}

func TestRunScale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runLocal(t, dir, nil, "--port", "0", "--scale", "5000")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if diff := cmp.Diff(map[string]int64{"products": 5000, "users": 5000}, counts(t, dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestBadConfigurationIsOneClearLine: each mistake ends the run with exit 1
// and a single stderr line naming the problem, never a stack trace.
func TestBadConfigurationIsOneClearLine(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	cases := []struct {
		name string
		env  []string
		args []string
		want string
		// warehouse, when set, is the content of the run directory's
		// warehouse file before the run.
		warehouse string
	}{
		{"unreachable source", []string{"SOURCE_BASE_URL=" + downURL}, nil, "is unreachable", ""},
		{"malformed source URL", []string{"SOURCE_BASE_URL=fakestore"}, nil, "SOURCE_BASE_URL", ""},
		{"port in use", nil, []string{"--port", busyPort}, "port " + busyPort + " is in use", ""},
		{"bad log level", []string{"LOG_LEVEL=loud"}, nil, "LOG_LEVEL", ""},
		{"bad timeout", []string{"SOURCE_TIMEOUT=soon"}, nil, "SOURCE_TIMEOUT: must be a positive duration", ""},
		{"bad flag", nil, []string{"--scale", "many"}, "invalid value \"many\" for flag -scale", ""},
		{"scale with external source", []string{"SOURCE_BASE_URL=http://127.0.0.1:1"}, []string{"--scale", "10"}, "cannot be combined", ""},
		{"damaged warehouse", nil, nil, `"make run ARGS=--rebuild" replaces it`, "not a DuckDB database"},
		{"no dbt project", nil, []string{"--port", "0", "--dbt", "/bin/true", "--dbt-project", os.TempDir()}, "no dbt project in " + os.TempDir(), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			if len(args) == 0 {
				args = []string{"--port", "0"}
			}
			dir := t.TempDir()
			if tc.warehouse != "" {
				if err := os.WriteFile(filepath.Join(dir, "warehouse.duckdb"), []byte(tc.warehouse), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := runLocal(t, dir, tc.env, args...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "shoplake: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and one line containing %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr+r.stdout, "goroutine ") {
				t.Error("printed a stack trace")
			}
		})
	}
}

// mutableAPI serves the FakeStore snapshot with products, users and carts a
// test can change.
type mutableAPI struct {
	mu      sync.Mutex
	records map[string][]map[string]any // by entity
}

func newMutableAPI(t *testing.T) (*mutableAPI, string) {
	t.Helper()
	m := &mutableAPI{records: map[string][]map[string]any{}}
	for _, e := range []string{"products", "users", "carts"} {
		var records []map[string]any
		if err := storefront.DecodeFixtures(e, &records); err != nil {
			t.Fatal(err)
		}
		m.records[e] = records
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv.URL
}

func (m *mutableAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	records, ok := m.records[strings.TrimPrefix(r.URL.Path, "/")]
	b, _ := json.Marshal(records)
	m.mu.Unlock()
	if !ok {
		storefront.NewServer(storefront.Fixtures()).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// update changes the carts the API serves.
func (m *mutableAPI) update(fn func(carts []map[string]any) []map[string]any) {
	m.updateEntity("carts", fn)
}

// updateEntity changes the records of one entity the API serves.
func (m *mutableAPI) updateEntity(entity string, fn func(records []map[string]any) []map[string]any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[entity] = fn(m.records[entity])
}

// streamingSequence runs the pipeline against a source whose carts change:
// 7 events, then none, then exactly 1 for a changed cart, then exactly 1
// tombstone for a removed cart; cart_events keeps one row per delivery.
func streamingSequence(t *testing.T, extraEnv ...string) {
	t.Helper()
	api, url := newMutableAPI(t)
	dir := t.TempDir()
	env := append([]string{"SOURCE_BASE_URL=" + url}, extraEnv...)
	step := func(name string, wantPublished, wantRows, wantDistinct int64, wantType string) {
		t.Helper()
		r := runLocal(t, dir, env, "--port", "0")
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", name, r.code, r.stdout, r.stderr)
		}
		s := lastRun(t, dir)
		p := s.Polls[0]
		if p.Poll.Published != wantPublished || p.Push.Events != wantPublished || s.Streaming.CartEventRows != wantRows || s.Streaming.DistinctEvents != wantDistinct {
			t.Errorf("%s: published %d, acked %d, rows %d, distinct %d; want %d, %d, %d, %d",
				name, p.Poll.Published, p.Push.Events, s.Streaming.CartEventRows, s.Streaming.DistinctEvents,
				wantPublished, wantPublished, wantRows, wantDistinct)
		}
		if wantType != "" {
			db := openWarehouse(t, dir)
			defer db.Close()
			var last string
			if err := db.QueryRow("select event_type from bq_raw.cart_events order by ingested_at desc limit 1").Scan(&last); err != nil || last != wantType {
				t.Errorf("%s: newest event is %q (%v), want %q", name, last, err, wantType)
			}
		}
	}
	step("first run", 7, 7, 7, "")
	step("unchanged source", 0, 7, 7, "")
	api.update(func(c []map[string]any) []map[string]any {
		c[0]["products"].([]any)[0].(map[string]any)["quantity"] = 42
		return c
	})
	step("one cart changed", 1, 8, 8, "cart.upserted")
	api.update(func(c []map[string]any) []map[string]any { return c[1:] })
	step("one cart removed", 1, 9, 9, "cart.deleted")
	step("unchanged again", 0, 9, 9, "")
}

func TestRunStreamsOnlyChangesAndTombstones(t *testing.T) {
	t.Parallel()
	streamingSequence(t)
}

// TestRunWithGcloudEmulator runs the same sequence with PUBSUB_EMULATOR_HOST
// pointing at the gcloud Pub/Sub emulator. It skips only when gcloud is not
// installed.
func TestRunWithGcloudEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gcloud emulator")
	}
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		t.Skip("gcloud is not installed")
	}
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(gcloud, "beta", "emulators", "pubsub", "start", "--host-port="+addr, "--project=shoplake-local", "--quiet")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the emulator is a tree of processes
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator did not start within 90s:\n%s", logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	streamingSequence(t, "PUBSUB_EMULATOR_HOST="+addr)
}

func TestRunKeepsPollingChangingCarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runLocal(t, dir, nil, "--port", "0", "--scale", "1000", "--poll-every", "50ms", "--polls", "3")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	s := lastRun(t, dir)
	if len(s.Polls) != 3 || s.Polls[0].Poll.Published != 1000 {
		t.Fatalf("polls = %+v", s.Polls)
	}
	for i, p := range s.Polls[1:] {
		if p.Poll.Changed == 0 || p.Poll.Changed > 30 || p.Push.Events != p.Poll.Published {
			t.Errorf("poll %d: %+v, want a few changed carts, all delivered", i+2, p)
		}
	}
	var want int64
	for _, p := range s.Polls {
		want += p.Poll.Published
	}
	if s.Streaming.CartEventRows != want {
		t.Errorf("cart_events has %d rows, %d events were published", s.Streaming.CartEventRows, want)
	}
}

// TestIncrementalMartsFollowSourceChanges changes carts at the source between
// runs and checks the incremental facts: a new quantity, a cart that lost
// lines, a deleted cart, a cart that changed date, an order ahead of its
// product's and customer's snapshots; and that a full refresh gives the same
// live rows.
func TestIncrementalMartsFollowSourceChanges(t *testing.T) {
	dbt := os.Getenv("SHOPLAKE_DBT")
	if dbt == "" {
		t.Skip("SHOPLAKE_DBT is not set (make test sets it)")
	}
	t.Parallel()
	api, url := newMutableAPI(t)
	dir := t.TempDir()
	run := func(step string) {
		t.Helper()
		r := runLocal(t, dir, []string{"SOURCE_BASE_URL=" + url}, append([]string{"--port", "0"}, dbtArgs()...)...)
		if r.code != 0 {
			log, _ := os.ReadFile(filepath.Join(dir, "logs", "dbt.log"))
			t.Fatalf("%s: exit %d\n%s\n%s\ndbt.log:\n%s", step, r.code, r.stdout, r.stderr, log[max(0, len(log)-6000):])
		}
		if s := lastRun(t, dir); s.DBT.Status != "built" {
			t.Fatalf("%s: dbt %+v", step, s.DBT)
		}
	}
	query := func(q string, args ...any) (out []string) {
		t.Helper()
		db := openWarehouse(t, dir)
		defer db.Close()
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		return out
	}

	run("first run")
	// Cart 1: 3 lines (4 × product 1, 1 × product 2, 6 × product 3).
	api.update(func(c []map[string]any) []map[string]any {
		c[0]["products"] = c[0]["products"].([]any)[:1] // keep 4 × product 1 only
		c[1]["products"].([]any)[0].(map[string]any)["quantity"] = 1
		return c
	})
	run("cart 1 lost two lines, cart 2 changed a quantity")
	if got := query("select s.units, s.revenue::double from bq_analytics.fact_daily_product_sales s join bq_analytics.dim_products p using (product_key) where p.product_id = '1' and s.order_date = date '2020-03-02'"); len(got) != 1 || got[0] != "4 439.8" {
		t.Errorf("product 1's sales of 2020-03-02 (units, revenue) = %v, want cart 1's 4 439.8", got)
	}
	if got := query("select item_count, total_quantity from bq_analytics.fact_orders where cart_id = 1"); len(got) != 1 || got[0] != "1 4" {
		t.Errorf("cart 1 order = %v, want 1 line of 4 units", got)
	}
	if got := query("select count(*) filter (where is_removed), count(*) filter (where not is_removed), sum(line_revenue)::double from bq_analytics.fact_order_items where cart_id = 1"); got[0] != "2 1 439.8" {
		t.Errorf("cart 1 lines (removed, live, revenue) = %v, want 2 removed, 1 live, 439.8", got)
	}
	api.update(func(c []map[string]any) []map[string]any { return c[1:] }) // cart 1 deleted
	run("cart 1 deleted")
	if got := query("select is_deleted from bq_analytics.fact_orders where cart_id = 1"); len(got) != 1 || got[0] != "true" {
		t.Errorf("cart 1 is_deleted = %v", got)
	}
	// Cart 1 was the only order of 2020-03-02: its product 1 sold nothing
	// that day any more, and its session ended abandoned, with its value.
	if got := query("select s.units, s.revenue::double from bq_analytics.fact_daily_product_sales s join bq_analytics.dim_products p using (product_key) where p.product_id = '1' and s.order_date = date '2020-03-02'"); len(got) != 1 || got[0] != "0 0" {
		t.Errorf("product 1's sales of 2020-03-02 (units, revenue) = %v, want 0 0 once cart 1 is deleted", got)
	}
	if got := query("select concat_ws(' ', outcome, abandoned_value::double, coalesce(time_to_order_seconds::varchar, 'null')) from bq_analytics.fact_cart_sessions where order_id = '1'"); len(got) != 1 || got[0] != "abandoned 439.8 null" {
		t.Errorf("cart 1's session (outcome, abandoned value, time to order) = %v, want abandoned 439.8 null", got)
	}
	// Cart 2 moves to another order date: on BigQuery its fact rows move to
	// another partition, so the cart keeps both dates for the merges to touch.
	before := query("select order_date from bq_analytics.fact_orders where cart_id = 2")
	api.update(func(c []map[string]any) []map[string]any {
		c[0]["date"] = "2021-07-04T00:00:00.000Z"
		return c
	})
	run("cart 2 moved to another date")
	if got := query("select order_date, (select count(*) from bq_analytics.fact_order_items i where i.cart_id = 2 and i.order_date != o.order_date) from bq_analytics.fact_orders o where cart_id = 2"); len(got) != 1 || !strings.HasPrefix(got[0], "2021-07-04") || !strings.HasSuffix(got[0], " 0") {
		t.Errorf("cart 2 order (date, items on another date) = %v, want one order on 2021-07-04 and every item with it", got)
	}
	if got, want := query("select order_dates::varchar from bq_staging.int_carts_latest where cart_id = 2"), "["+strings.Fields(before[0])[0]+", 2021-07-04]"; len(got) != 1 || got[0] != want {
		t.Errorf("cart 2 order_dates = %v, want %s", got, want)
	}

	// Cart 8 arrives before its product (21) and its customer (11) are in
	// any snapshot: both are inferred members, and its line of product 21 is
	// unpriced; the next snapshots fill them in and price it.
	api.update(func(c []map[string]any) []map[string]any {
		return append(c, map[string]any{"id": 8, "userId": 11, "date": "2020-03-02T00:00:00.000Z",
			"products": []any{map[string]any{"productId": 21, "quantity": 2}, map[string]any{"productId": 1, "quantity": 1}}})
	})
	run("an order before its product and its customer")
	if s := lastRun(t, dir); s.DBT.UnpricedLines != 1 {
		t.Errorf("unpriced lines in the summary = %d, want 1", s.DBT.UnpricedLines)
	}
	inferred := func() []string {
		return query(`select 'product', cast(product_id as bigint), is_inferred, product_title is null from bq_analytics.dim_products where product_id = '21'
			union all select 'user', cast(user_id as bigint), is_inferred, email_hash is null from bq_analytics.dim_users where user_id = '11' order by 1`)
	}
	if got, want := inferred(), []string{"product21 true true", "user11 true true"}; !cmp.Equal(got, want) {
		t.Errorf("dimension rows of product 21 and user 11 = %q, want inferred members %q", got, want)
	}
	if got := query("select revenue::double, unpriced_item_count from bq_analytics.fact_orders where cart_id = 8"); len(got) != 1 || got[0] != "109.95 1" {
		t.Errorf("cart 8 (revenue, unpriced lines) = %v, want the priced line's 109.95 and 1 unpriced", got)
	}
	api.updateEntity("products", func(p []map[string]any) []map[string]any {
		return append(p, map[string]any{"id": 21, "title": "Late arrival", "price": 10, "description": "d", "category": "c",
			"image": "https://fakestoreapi.com/img/21.jpg", "rating": map[string]any{"rate": 4, "count": 1}})
	})
	api.updateEntity("users", func(u []map[string]any) []map[string]any {
		v := maps.Clone(u[0])
		v["id"], v["email"], v["username"] = 11, "late@example.com", "late"
		return append(u, v)
	})
	run("the product and the customer arrive")
	if s := lastRun(t, dir); s.DBT.UnpricedLines != 0 {
		t.Errorf("unpriced lines in the summary = %d, want 0", s.DBT.UnpricedLines)
	}
	if got, want := inferred(), []string{"product21 false false", "user11 false false"}; !cmp.Equal(got, want) {
		t.Errorf("dimension rows of product 21 and user 11 = %q, want them filled in: %q", got, want)
	}
	if got := query("select revenue::double, unpriced_item_count from bq_analytics.fact_orders where cart_id = 8"); len(got) != 1 || got[0] != "129.95 0" {
		t.Errorf("cart 8 (revenue, unpriced lines) = %v, want 129.95, every line priced", got)
	}

	// A price and a quantity beyond what the money columns can sum are
	// quarantined; they used to fail every build of the marts.
	api.updateEntity("products", func(p []map[string]any) []map[string]any {
		v := maps.Clone(p[len(p)-1])
		v["id"], v["price"] = 22, 2e15
		return append(p, v)
	})
	api.update(func(c []map[string]any) []map[string]any {
		c[len(c)-1]["products"] = []any{map[string]any{"productId": 21, "quantity": 1e13}}
		return c
	})
	// Both are quarantined, so the raw tables do not change and dbt has
	// nothing to build.
	if r := runLocal(t, dir, []string{"SOURCE_BASE_URL=" + url}, append([]string{"--port", "0"}, dbtArgs()...)...); r.code != 0 {
		t.Fatalf("a price and a quantity out of bounds: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s := lastRun(t, dir); s.Ingest.Entities[0].Rejected != 1 || s.Polls[0].Poll.Rejected != 1 || s.DBT.Status != "skipped" {
		t.Errorf("rejected: products %d, carts %d, dbt %s; want 1 each and nothing to build",
			s.Ingest.Entities[0].Rejected, s.Polls[0].Poll.Rejected, s.DBT.Status)
	}
	if got := query("select count(*) from bq_analytics.dim_products where product_id = '22'"); got[0] != "0" {
		t.Errorf("product 22 in dim_products: %v, want none", got)
	}
	if got := query("select revenue::double from bq_analytics.fact_orders where cart_id = 8"); len(got) != 1 || got[0] != "129.95" {
		t.Errorf("cart 8 revenue = %v, want 129.95 as before the rejected change", got)
	}

	live := func() []string {
		return query(`select cart_id, item_count, total_quantity, revenue::double, unpriced_item_count, is_deleted from bq_analytics.fact_orders order by cart_id`)
	}
	liveItems := func() []string {
		return query(`select order_item_key, quantity, unit_price::double, is_deleted from bq_analytics.fact_order_items where not is_removed order by 1`)
	}
	// The state behind the marts too: the folded cart states and the events.
	carts := func() []string {
		return query(`select cart_id, upsert_event_id, upsert_published_at, user_id, cart_date, lines::varchar, is_deleted,
			last_event_id, last_event_at, order_dates::varchar from bq_staging.int_carts_latest order by cart_id`)
	}
	events := func() []string {
		return query(`select event_id, published_date, published_at, ingested_at from bq_staging.stg_cart_events order by all`)
	}
	// The marts analysts query: the days' sales that are not zero (an
	// incremental run keeps a product's day at zero when its lines were
	// removed, lines a full refresh never sees), every session, the
	// customers' order histories.
	sales := func() []string {
		return query(`select daily_product_sales_key, order_date, product_key, currency, order_count, units, revenue from bq_analytics.fact_daily_product_sales
			where units != 0 or revenue != 0 or order_count != 0 order by all`)
	}
	sessions := func() []string {
		return query(`select * from bq_analytics.fact_cart_sessions order by all`)
	}
	customers := func() []string {
		return query(`select user_id, first_order_date, last_order_date, cohort_month, order_count, lifetime_revenue from bq_analytics.dim_users order by all`)
	}
	incOrders, incItems, incCarts, incEvents := live(), liveItems(), carts(), events()
	incSales, incSessions, incCustomers := sales(), sessions(), customers()
	cmd := exec.Command(dbt, "build", "--full-refresh", "--target", "local", "--project-dir", "../../dbt", "--profiles-dir", "../../dbt",
		"--target-path", filepath.Join(dir, "dbt", "target"), "--log-path", filepath.Join(dir, "dbt", "logs"))
	cmd.Env = append(os.Environ(), "SHOPLAKE_DUCKDB_PATH="+filepath.Join(dir, "warehouse.duckdb"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dbt build --full-refresh: %v\n%s", err, out)
	}
	if diff := cmp.Diff(incOrders, live()); diff != "" {
		t.Errorf("fact_orders: incremental differs from a full refresh (-incremental +full):\n%s", diff)
	}
	if diff := cmp.Diff(incItems, liveItems()); diff != "" {
		t.Errorf("fact_order_items: incremental differs from a full refresh (-incremental +full):\n%s", diff)
	}
	if diff := cmp.Diff(incCarts, carts()); diff != "" {
		t.Errorf("int_carts_latest: incremental differs from a full refresh (-incremental +full):\n%s", diff)
	}
	if diff := cmp.Diff(incEvents, events()); diff != "" {
		t.Errorf("stg_cart_events: incremental differs from a full refresh (-incremental +full):\n%s", diff)
	}
	for _, c := range []struct {
		name      string
		inc, full []string
	}{
		{"fact_daily_product_sales", incSales, sales()},
		{"fact_cart_sessions", incSessions, sessions()},
		{"dim_users' order history", incCustomers, customers()},
	} {
		if diff := cmp.Diff(c.inc, c.full); diff != "" {
			t.Errorf("%s: incremental differs from a full refresh (-incremental +full):\n%s", c.name, diff)
		}
	}
}

// TestRunRebuildsWhatAnEarlierProjectBuilt: a warehouse an earlier release
// of the dbt project built (another project fingerprint, int_carts_latest
// without a column the project now has, which an incremental build cannot
// read) is brought up to date by a plain rerun, although no raw table
// changed: the project is built from scratch (again after a rebuild that
// failed), and the marts come out as they were.
func TestRunRebuildsWhatAnEarlierProjectBuilt(t *testing.T) {
	if os.Getenv("SHOPLAKE_DBT") == "" {
		t.Skip("SHOPLAKE_DBT is not set (make test sets it)")
	}
	t.Parallel()
	dir := t.TempDir()
	args := append([]string{"--port", "0"}, dbtArgs()...)
	run := func(step string) (result, Summary) {
		t.Helper()
		r := runLocal(t, dir, nil, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", step, r.code, r.stdout, r.stderr)
		}
		return r, lastRun(t, dir)
	}
	_, first := run("first run")

	db := openWarehouse(t, dir)
	if _, err := db.Exec("alter table bq_staging.int_carts_latest drop column order_dates"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := dbtrun.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.Project = "an-earlier-release"
	if err := dbtrun.WriteState(dir, st); err != nil {
		t.Fatal(err)
	}

	// A rebuild that fails leaves the earlier project recorded, so the next
	// run rebuilds from scratch again.
	broken := filepath.Join(t.TempDir(), "dbt")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := runLocal(t, dir, nil, "--port", "0", "--dbt", broken, "--dbt-project", "../../dbt"); r.code == 0 || !strings.Contains(r.stdout, "--full-refresh") {
		t.Fatalf("the rebuild with a failing dbt: exit %d\n%s", r.code, r.stdout)
	}
	if st, err := dbtrun.ReadState(dir); err != nil || st.Project != "an-earlier-release" || st.Status != "failed" {
		t.Fatalf("build state after the failed rebuild: %+v (%v)", st, err)
	}

	r, second := run("run after the project changed")
	for _, want := range []string{"the dbt project changed since the last build: rebuilding from scratch (--full-refresh)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if second.DBT.Status != "built" || second.DBT.Revenue != first.DBT.Revenue || !maps.Equal(second.DBT.MartRows, first.DBT.MartRows) {
		t.Errorf("after the rebuild: dbt %s, marts %v revenue %s; want built, %v and %s",
			second.DBT.Status, second.DBT.MartRows, second.DBT.Revenue, first.DBT.MartRows, first.DBT.Revenue)
	}
	if n := second.DBT.Tests["pass"]; n == 0 || n != first.DBT.Tests["pass"] || len(second.DBT.Failed) > 0 {
		t.Errorf("tests after the rebuild: %v (failed %v), want the first run's %v", second.DBT.Tests, second.DBT.Failed, first.DBT.Tests)
	}
	st, err = dbtrun.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := dbtrun.ProjectMark("../../dbt"); st.Project != want || st.Status != "succeeded" {
		t.Errorf("build state %+v, want succeeded with project %s", st, want)
	}
	if _, third := run("run with nothing changed"); third.DBT.Status != "skipped" {
		t.Errorf("dbt after a run with nothing changed: %s (%s), want skipped", third.DBT.Status, third.DBT.Reason)
	}
}

// TestPseudonymKeyIsWrittenNowhere: with the key set to a marker, no file of
// the run directory (dbt's target and logs included), no warehouse row and
// no output holds the marker, while dim_users holds the HMAC of each address
// under it, the same on the next run.
func TestPseudonymKeyIsWrittenNowhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const marker = "MARKER-pseudonym-key-7f3a"
	env := []string{"PSEUDONYM_KEY=" + marker}
	args := append([]string{"--port", "0"}, dbtArgs()...)
	var outputs strings.Builder
	for range 2 {
		r := runLocal(t, dir, env, args...)
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		outputs.WriteString(r.stdout + r.stderr)
	}
	if strings.Contains(outputs.String(), marker) {
		t.Error("the run's output shows the key")
	}
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s holds the key", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pseudonym.key")); err == nil {
		t.Error("a key given in PSEUDONYM_KEY was kept on disk")
	}

	var users bytes.Buffer
	if _, _, err := storefront.Fixtures().WriteEntity(&users, "users"); err != nil {
		t.Fatal(err)
	}
	var fixture []struct {
		ID    int64
		Email string
	}
	if err := json.Unmarshal(users.Bytes(), &fixture); err != nil {
		t.Fatal(err)
	}
	key, _ := pseudonym.NewKey(marker)
	want := map[int64]string{}
	for _, u := range fixture {
		want[u.ID] = key.Email(u.Email)
	}
	query := "select distinct id, email_hash from bq_raw.users"
	if os.Getenv("SHOPLAKE_DBT") != "" {
		query = "select user_id, email_hash from bq_analytics.dim_users"
	}
	db := openWarehouse(t, dir)
	defer db.Close()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64]string{}
	for rows.Next() {
		var id int64
		var h string
		if err := rows.Scan(&id, &h); err != nil {
			t.Fatal(err)
		}
		got[id] = h
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: pseudonyms (-HMAC of the fixtures +got):\n%s", query, diff)
	}
}
