package laketest

import (
	"context"
	"testing"
)

func TestNewServesTheObjectsGiven(t *testing.T) {
	t.Parallel()
	bucket := New(t, "lake", map[string]string{"a/1.jsonl": "{}\n", "b.txt": "x"}).Bucket("lake")
	w := bucket.Object("c").NewWriter(context.Background())
	if _, err := w.Write([]byte("written")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := Objects(t, bucket)
	if len(got) != 3 || got["a/1.jsonl"] != "{}\n" || got["b.txt"] != "x" || got["c"] != "written" {
		t.Errorf("Objects = %q", got)
	}
}
