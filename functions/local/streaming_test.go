package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/shoplake/shoplake/functions/local/storefront"
)

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
