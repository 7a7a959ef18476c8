// Package laketest serves a lake bucket from an in-process fake Cloud Storage
// (fake-gcs-server) for tests, and reads back what a test wrote to it.
package laketest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/iterator"
)

// New starts a fake Cloud Storage holding the bucket with the given objects
// (name to body), stops it when the test ends, and returns its client.
func New(t testing.TB, bucket string, objects map[string]string) *storage.Client {
	t.Helper()
	var init []fakestorage.Object
	for name, body := range objects {
		init = append(init, fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name}, Content: []byte(body)})
	}
	srv := fakestorage.NewServer(init)
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	return srv.Client()
}

// Read returns the body of one object, failing the test if it is missing.
func Read(t testing.TB, bucket *storage.BucketHandle, name string) string {
	t.Helper()
	r, err := bucket.Object(name).NewReader(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// Objects returns every object of the bucket with its body.
func Objects(t testing.TB, bucket *storage.BucketHandle) map[string]string {
	t.Helper()
	out := map[string]string{}
	it := bucket.Objects(context.Background(), nil)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		out[a.Name] = Read(t, bucket, a.Name)
	}
}

// ProductSnapshot returns the body of a raw products snapshot of day
// (YYYY-MM-DD) as IngestBatch writes it: one line a product id, each with the
// snapshot's dt, _extracted_at and _run_id columns.
func ProductSnapshot(day string, ids ...int) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, `{"id":%d,"title":"p%d","price":10.25,"description":"d","category":"c","image":"","rating":{"rate":4.5,"count":3},"dt":"%s","_extracted_at":"%sT06:00:00.123Z","_run_id":"r"}`+"\n", id, id, day, day)
	}
	return b.String()
}
