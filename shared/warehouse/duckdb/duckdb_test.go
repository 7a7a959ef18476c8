package duckdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// memObjects serves object bodies from a map keyed by object name.
type memObjects map[string]string

func (m memObjects) Open(_ context.Context, _, object string, _ int64) (io.ReadCloser, error) {
	body, ok := m[object]
	if !ok {
		return nil, fmt.Errorf("object %s not found", object)
	}
	return io.NopCloser(strings.NewReader(body)), nil
}

func open(t *testing.T, objects memObjects) *Warehouse {
	t.Helper()
	w, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "w.duckdb"), Dataset: "bq_raw"}, objects)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func load(t *testing.T, w *Warehouse, object, day string) (int64, error) {
	t.Helper()
	d, _ := time.Parse("2006-01-02", day)
	return w.LoadPartition(context.Background(), warehouse.LoadRequest{Table: "products", Day: d, Bucket: "b", Object: object, Generation: 1})
}

func count(t *testing.T, w *Warehouse, where string) int64 {
	t.Helper()
	var n int64
	if err := w.DB().QueryRow("select count(*) from bq_raw.products where " + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoadPartitionReplacesOnlyItsDay(t *testing.T) {
	t.Parallel()
	objs := memObjects{
		"day1":       laketest.ProductSnapshot("2026-11-21", 1, 2, 3),
		"day2":       laketest.ProductSnapshot("2026-11-22", 1, 2),
		"day2-again": laketest.ProductSnapshot("2026-11-22", 1, 2, 4, 5),
	}
	w := open(t, objs)

	steps := []struct {
		object, day string
		wantRows    int64
		wantTotal   int64
	}{
		{"day1", "2026-11-21", 3, 3},
		{"day2", "2026-11-22", 2, 5},
		{"day2", "2026-11-22", 2, 5}, // a reload changes nothing
		{"day2-again", "2026-11-22", 4, 7},
	}
	for i, s := range steps {
		rows, err := load(t, w, s.object, s.day)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if rows != s.wantRows || count(t, w, "true") != s.wantTotal {
			t.Errorf("step %d: rows %d total %d, want %d and %d", i, rows, count(t, w, "true"), s.wantRows, s.wantTotal)
		}
	}
	var price, rate float64
	var extracted time.Time
	if err := w.DB().QueryRow("select price::double, rating.rate, _extracted_at from bq_raw.products where id = 1 and dt = '2026-11-21'").Scan(&price, &rate, &extracted); err != nil {
		t.Fatal(err)
	}
	if price != 10.25 || rate != 4.5 || !extracted.Equal(time.Date(2026, 11, 21, 6, 0, 0, 123e6, time.UTC)) {
		t.Errorf("typed columns: price %v rate %v extracted %v", price, rate, extracted)
	}
}

func TestLoadPartitionFailuresRollBack(t *testing.T) {
	t.Parallel()
	objs := memObjects{
		"good":    laketest.ProductSnapshot("2026-11-22", 1, 2),
		"outside": laketest.ProductSnapshot("2026-11-22", 7) + laketest.ProductSnapshot("2026-11-23", 8),
		"broken":  laketest.ProductSnapshot("2026-11-22", 9) + `{"id": "nine", oops` + "\n",
		"null-id": `{"id":null,"title":"t","price":1,"category":"c","dt":"2026-11-22","_extracted_at":"2026-11-22T00:00:00Z","_run_id":"r"}` + "\n",
	}
	w := open(t, objs)
	if _, err := load(t, w, "good", "2026-11-22"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ object, want string }{
		{"outside", "1 of 2 rows are outside partition 2026-11-22"},
		{"broken", "load gs://b/broken into products"},
		{"null-id", "NOT NULL"},
		{"missing", "open gs://b/missing"},
	} {
		_, err := load(t, w, tc.object, "2026-11-22")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want containing %q", tc.object, err, tc.want)
		}
		if n := count(t, w, "true"); n != 2 {
			t.Errorf("%s: failed load left %d rows, want the 2 from before", tc.object, n)
		}
	}
}

func TestRecordsAreIdempotent(t *testing.T) {
	t.Parallel()
	w := open(t, nil)
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	rec := warehouse.LoadRecord{ObjectName: "gs://b/o", Generation: 3, MD5: "m", Entity: "products", PartitionDate: "2026-11-22", RowCount: 2, RunID: "r", LoadedAt: at}
	if ok, err := w.Loaded(ctx, "gs://b/o", "m"); err != nil || ok {
		t.Fatalf("Loaded before record = %v, %v", ok, err)
	}
	for i := 0; i < 2; i++ {
		if err := w.RecordLoad(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := w.RecordRun(ctx, warehouse.Run{RunID: "r", Function: "LoadRawObject", StartedAt: at, FinishedAt: at, Status: "succeeded"}); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := w.Loaded(ctx, "gs://b/o", "m"); err != nil || !ok {
		t.Errorf("Loaded after record = %v, %v", ok, err)
	}
	if ok, _ := w.Loaded(ctx, "gs://b/o", "other"); ok {
		t.Error("Loaded matched a different md5")
	}
	for table, want := range map[string]int64{"_load_metadata": 1, "pipeline_runs": 1} {
		if n, err := w.CountRows(ctx, table); err != nil || n != want {
			t.Errorf("%s has %d rows (%v), want %d", table, n, err, want)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	objs := memObjects{"o": laketest.ProductSnapshot("2026-11-22", 1)}
	w, err := Open(context.Background(), Config{Path: path, Dataset: "bq_raw"}, objs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, w, "o", "2026-11-22"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, err = Open(context.Background(), Config{Path: path, Dataset: "bq_raw"}, objs)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n, _ := w.CountRows(context.Background(), "products"); n != 1 {
		t.Errorf("after reopen: %d rows", n)
	}
}

// TestOpenAddsNullableColumnsNewToTheSchema: a warehouse made before a
// nullable column joined the schema (cart_events_rejected.event_index) gets
// the column on open, and keeps its rows.
func TestOpenAddsNullableColumnsNewToTheSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := Open(ctx, Config{Path: path, Dataset: "bq_raw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB().ExecContext(ctx, `alter table bq_raw.cart_events_rejected drop column event_index`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB().ExecContext(ctx, `insert into bq_raw.cart_events_rejected (message_id, reason, received_at) values ('old', 'r', now())`); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, err = Open(ctx, Config{Path: path, Dataset: "bq_raw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rej := warehouse.RejectedEvent{MessageID: "new", Reason: "r", ReceivedAt: time.Now(), EventIndex: 3}
	if err := w.InsertRejectedEvents(ctx, []warehouse.RejectedEvent{rej}); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := w.DB().QueryRowContext(ctx, `select string_agg(message_id || ':' || coalesce(event_index::varchar, 'null'), ',' order by message_id) from bq_raw.cart_events_rejected`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "new:3,old:null" {
		t.Errorf("rows %q, want new:3,old:null", got)
	}
}

func TestMemoryLimitIsDuckDBs(t *testing.T) {
	t.Parallel()
	w, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "w.duckdb"), Dataset: "bq_raw", MemoryLimit: "200MB"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var limit string
	if err := w.DB().QueryRow(`select current_setting('memory_limit')`).Scan(&limit); err != nil {
		t.Fatal(err)
	}
	if limit != "190.7 MiB" {
		t.Errorf("memory_limit = %q, want 200MB (190.7 MiB)", limit)
	}
}

// TestOpenNamesAFileLockedByAnotherProcess: a second process opening the
// warehouse gets ErrLocked, not a message to search for "lock". The other
// process is this test binary, run as holdLock.
func TestOpenNamesAFileLockedByAnotherProcess(t *testing.T) {
	if path := os.Getenv("SHOPLAKE_HOLD_DUCKDB"); path != "" {
		holdLock(t, path)
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "warehouse.duckdb")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenNamesAFileLockedByAnotherProcess$")
	cmd.Env = append(os.Environ(), "SHOPLAKE_HOLD_DUCKDB="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	ready := make([]byte, 6)
	if _, err := io.ReadFull(stdout, ready); err != nil || string(ready) != "ready\n" {
		t.Fatalf("the holding process did not open the file: %q, %v", ready, err)
	}
	_, err = Open(context.Background(), Config{Path: path, Dataset: "bq_raw"}, nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open of a held file = %v, want ErrLocked", err)
	}
	w, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "other.duckdb"), Dataset: "bq_raw"}, nil)
	if errors.Is(err, ErrLocked) {
		t.Fatalf("a free file reported as locked: %v", err)
	}
	if err == nil {
		w.Close()
	}
}

// holdLock opens path, says so on stdout and holds it until stdin closes.
func holdLock(t *testing.T, path string) {
	w, err := Open(context.Background(), Config{Path: path, Dataset: "bq_raw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fmt.Print("ready\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
