package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/api/iterator"

	"github.com/shoplake/shoplake/functions/local/internal/names"
)

// TestAnUnfinishedUploadIsDropped leaves in the lake on disk what a run
// killed between an object's content and its metadata leaves: the lake then
// lists again, without that object, and keeps the finished one.
func TestAnUnfinishedUploadIsDropped(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	st := &Stack{cfg: Config{Dir: dir, Out: &out}}
	if err := st.startStorage(t.Context()); err != nil {
		st.Close()
		t.Fatal(err)
	}
	w := st.Bucket().Object("raw/products/dt=2026-12-04/products.jsonl").NewWriter(t.Context())
	w.Write([]byte("{}\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	torn := filepath.Join(dir, "gcs", names.Bucket, "raw", "cart_events", "dt=2026-12-04", "10_00_00Z_000001-0.jsonl")
	if err := os.MkdirAll(filepath.Dir(torn), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(torn, []byte("{}\n"), 0o600); err != nil { // content, no metadata
		t.Fatal(err)
	}
	st = &Stack{cfg: Config{Dir: dir, Out: &out}}
	defer st.Close()
	if err := st.startStorage(t.Context()); err != nil {
		t.Fatal(err)
	}
	var listed []string
	it := st.Bucket().Objects(t.Context(), nil)
	for {
		a, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("list the lake: %v", err)
		}
		listed = append(listed, a.Name)
	}
	if len(listed) != 1 || listed[0] != "raw/products/dt=2026-12-04/products.jsonl" {
		t.Errorf("the lake lists %q, want only the finished upload", listed)
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Errorf("the unfinished upload is still on disk: %v", err)
	}
	if !strings.Contains(out.String(), "raw/cart_events/dt=2026-12-04/10_00_00Z_000001-0.jsonl was left half-written") {
		t.Errorf("the stack did not say what it removed:\n%s", out.String())
	}
}
