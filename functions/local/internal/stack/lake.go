package stack

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/shoplake/shoplake/functions/local/internal/names"
)

// metadataSuffix marks the files where fake-gcs-server keeps an object's
// metadata when the file system has no extended attributes.
const metadataSuffix = ".metadata"

// dropUnfinishedUploads removes from the lake on disk (root, fake-gcs-server's
// storage root) the objects an interrupted run left half-written.
// fake-gcs-server writes an object's content and then its metadata, each as
// one step, so a run killed in between leaves a file it cannot read, and
// every listing of the bucket fails from then on. In Cloud Storage an upload
// that did not complete does not exist: removing them gives the lake that
// guarantee. Nothing is lost: the functions publish, acknowledge or move a
// cursor only after an upload completes, so the next run writes them again.
func dropUnfinishedUploads(srv *fakestorage.Server, root string, out io.Writer) error {
	bucketDir := filepath.Join(root, names.Bucket)
	if _, err := os.Stat(bucketDir); errors.Is(err, fs.ErrNotExist) {
		return nil // a new lake
	}
	return filepath.WalkDir(bucketDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, metadataSuffix) {
			return err
		}
		rel, err := filepath.Rel(bucketDir, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		obj, err := srv.GetObjectStreaming(names.Bucket, name)
		if err == nil {
			if obj.Content != nil {
				obj.Content.Close()
			}
			return nil
		}
		for _, p := range []string{path, path + metadataSuffix} {
			if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return fmt.Errorf("remove the unfinished upload gs://%s/%s: %w", names.Bucket, name, rerr)
			}
		}
		fmt.Fprintf(out, "lake:      gs://%s/%s was left half-written by an interrupted run (%v): removed, as Cloud Storage keeps no unfinished upload\n", names.Bucket, name, err)
		return nil
	})
}
