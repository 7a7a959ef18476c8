package lake

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/shared/lake/laketest"
)

func newTestWriter(t *testing.T) (*Writer, *storage.Client) {
	t.Helper()
	client := laketest.New(t, "lake", nil)
	w, err := NewWriter(Config{Bucket: "lake"}, client)
	if err != nil {
		t.Fatal(err)
	}
	return w, client
}

func write(t *testing.T, w *Writer, runID string, records ...string) Result {
	t.Helper()
	ctx := context.Background()
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	s := w.Begin(ctx, RawObject("products", day), Stamp{Day: day, RunID: runID, ExtractedAt: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)})
	for _, r := range records {
		if err := s.Add([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func read(t *testing.T, c *storage.Client, name string) (string, *storage.ObjectAttrs) {
	t.Helper()
	ctx := context.Background()
	obj := c.Bucket("lake").Object(name)
	r, err := obj.NewReader(ctx)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), attrs
}

func listAll(t *testing.T, c *storage.Client) []string {
	t.Helper()
	var names []string
	for name := range laketest.Objects(t, c.Bucket("lake")) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func TestSnapshotWritesStampedLinesAndMetadata(t *testing.T) {
	t.Parallel()
	w, c := newTestWriter(t)

	res := write(t, w, "run-1", `{"id":1}`, `{}`)

	body, attrs := read(t, c, "raw/products/dt=2026-11-22/products.jsonl")
	want := `{"id":1,"dt":"2026-11-22","_extracted_at":"2026-11-22T06:00:00Z","_run_id":"run-1"}` + "\n" +
		`{"dt":"2026-11-22","_extracted_at":"2026-11-22T06:00:00Z","_run_id":"run-1"}` + "\n"
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("object body (-want +got):\n%s", diff)
	}
	wantMeta := map[string]string{MetaRecords: "2", MetaRunID: "run-1", MetaSHA256: res.SHA256, MetaExtractedAt: "2026-11-22T06:00:00Z"}
	if diff := cmp.Diff(wantMeta, attrs.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if res.Unchanged || res.Records != 2 || res.Generation != attrs.Generation {
		t.Errorf("result = %+v, want 2 new records at generation %d", res, attrs.Generation)
	}
	if diff := cmp.Diff([]string{"raw/products/dt=2026-11-22/products.jsonl"}, listAll(t, c)); diff != "" {
		t.Errorf("bucket holds a staged leftover (-want +got):\n%s", diff)
	}
}

func TestSnapshotIdenticalContentIsNotRewritten(t *testing.T) {
	t.Parallel()
	w, c := newTestWriter(t)

	first := write(t, w, "run-1", `{"id":1}`, `{"id":2}`)
	second := write(t, w, "run-2", `{"id":1}`, `{"id":2}`) // new run, same content

	if !second.Unchanged || second.Generation != first.Generation || second.SHA256 != first.SHA256 {
		t.Fatalf("second write = %+v, want unchanged at generation %d", second, first.Generation)
	}
	body, attrs := read(t, c, first.Object)
	if attrs.Generation != first.Generation || !strings.Contains(body, `"_run_id":"run-1"`) {
		t.Errorf("object was rewritten: generation %d, body %s", attrs.Generation, body)
	}

	third := write(t, w, "run-3", `{"id":1}`, `{"id":3}`)
	if third.Unchanged || third.Generation == first.Generation {
		t.Errorf("changed content was not rewritten: %+v", third)
	}
}

func TestSnapshotAbortLeavesFinalObjectUntouched(t *testing.T) {
	t.Parallel()
	w, c := newTestWriter(t)
	first := write(t, w, "run-1", `{"id":1}`)

	ctx := context.Background()
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	s := w.Begin(ctx, first.Object, Stamp{Day: day, RunID: "run-2", ExtractedAt: day})
	if err := s.Add([]byte(`{"id":99}`)); err != nil {
		t.Fatal(err)
	}
	s.Abort()

	_, attrs := read(t, c, first.Object)
	if attrs.Generation != first.Generation {
		t.Errorf("aborted snapshot changed the object: generation %d, want %d", attrs.Generation, first.Generation)
	}
	if _, err := s.Commit(ctx); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if diff := cmp.Diff([]string{first.Object}, listAll(t, c)); diff != "" {
		t.Errorf("bucket (-want +got):\n%s", diff)
	}
}

func TestAddRejectsNonObjects(t *testing.T) {
	t.Parallel()
	w, _ := newTestWriter(t)
	s := w.Begin(context.Background(), "raw/x/dt=2026-11-22/x.jsonl", Stamp{RunID: "r"})
	defer s.Abort()
	for _, in := range []string{``, `[]`, `1`, `{`} {
		if err := s.Add([]byte(in)); err == nil {
			t.Errorf("Add(%q) succeeded", in)
		}
	}
}

func TestParseRawObject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, object, entity, day string
		ok                        bool
	}{
		{"snapshot", "raw/products/dt=2026-11-22/products.jsonl", "products", "2026-11-22", true},
		{"rejects area", "rejects/products/dt=2026-11-22/products.jsonl", "", "", false},
		{"entity mismatch", "raw/products/dt=2026-11-22/users.jsonl", "", "", false},
		{"bad date", "raw/products/dt=2026-13-40/products.jsonl", "", "", false},
		{"no partition", "raw/products/products.jsonl", "", "", false},
		{"nested", "raw/products/dt=2026-11-22/x/products.jsonl", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			entity, day, err := ParseRawObject(tc.object)
			if !tc.ok {
				if !errors.Is(err, ErrNotRawObject) {
					t.Errorf("ParseRawObject(%q) error = %v, want ErrNotRawObject", tc.object, err)
				}
				return
			}
			if err != nil || entity != tc.entity || day.Format(DateLayout) != tc.day {
				t.Errorf("ParseRawObject(%q) = %q, %v, %v", tc.object, entity, day, err)
			}
			if RawObject(entity, day) != tc.object {
				t.Errorf("RawObject does not round-trip %q", tc.object)
			}
		})
	}
}

func TestQuarantineWritesOnlyWhenSomethingWasRejected(t *testing.T) {
	t.Parallel()
	w, c := newTestWriter(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	stamp := Stamp{Day: day, RunID: "r", ExtractedAt: day}

	empty := w.Quarantine("products", stamp)
	if obj, err := empty.Commit(ctx); err != nil || obj != "" {
		t.Errorf("empty quarantine committed %q, %v", obj, err)
	}
	if names := listAll(t, c); len(names) != 0 {
		t.Errorf("empty quarantine wrote %v", names)
	}

	q := w.Quarantine("users", stamp)
	if err := q.Add(ctx, []byte(`{"id":1,"password":"hunter2"}`), errors.New("email fails email")); err != nil {
		t.Fatal(err)
	}
	obj, err := q.Commit(ctx)
	if err != nil || obj != "rejects/users/dt=2026-11-22/users.jsonl" {
		t.Fatalf("Commit = %q, %v", obj, err)
	}
	body, _ := read(t, c, obj)
	if !strings.Contains(body, `"reason":"email fails email"`) || strings.Contains(body, "hunter2") {
		t.Errorf("quarantined line = %s", body)
	}
	q.Abort() // safe after Commit
}
