package lake

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"strconv"
	"time"

	"cloud.google.com/go/storage"
)

// Custom metadata keys set on every snapshot object.
const (
	MetaRecords     = "records"
	MetaRunID       = "run_id"
	MetaSHA256      = "sha256"
	MetaExtractedAt = "extracted_at"
)

// chunkSize is the upload chunk of a staged object. Zero sends each object in
// one streaming request, so the writer holds no upload buffer however large
// the snapshot (a resumable upload would buffer a chunk per open object); an
// upload that fails is not resumed but redone whole, since staging is
// idempotent and nothing is published until the final copy.
const chunkSize = 0

// Config configures a Writer.
type Config struct {
	// Bucket is the raw bucket's name.
	Bucket string
}

// Writer writes snapshot objects into the raw bucket.
type Writer struct {
	bucket *storage.BucketHandle
	name   string
}

// NewWriter returns a Writer for cfg.Bucket using client.
func NewWriter(cfg Config, client *storage.Client) (*Writer, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("lake: bucket name is empty")
	}
	return &Writer{bucket: client.Bucket(cfg.Bucket), name: cfg.Bucket}, nil
}

// Bucket returns the name of the bucket the Writer writes to.
func (w *Writer) Bucket() string { return w.name }

// Stamp holds the per-run fields appended to every line. They are excluded
// from the content hash, so a rerun over unchanged data hashes the same.
type Stamp struct {
	Day         time.Time
	RunID       string
	ExtractedAt time.Time
}

// Result describes a committed snapshot object.
type Result struct {
	// Object is the final object name.
	Object string `json:"object"`
	// Records is the number of lines in the object.
	Records int64 `json:"records"`
	// SHA256 is the hex digest of the records' canonical content.
	SHA256 string `json:"sha256"`
	// Unchanged is true when an object with identical content already existed,
	// so nothing was written and no new generation (and no load) follows.
	Unchanged bool `json:"unchanged"`
	// Generation is the generation of the object now at Object.
	Generation int64 `json:"generation"`
}

// Snapshot stages one object's lines in tmp/ and, on Commit, publishes them at
// their final name unless identical content is already there. Until Commit
// returns, the final object is untouched; Abort discards the staged lines.
type Snapshot struct {
	w       *Writer
	final   string
	stamp   Stamp
	suffix  []byte
	staged  *storage.ObjectHandle
	cancel  context.CancelFunc
	gw      *storage.Writer
	buf     *bufio.Writer
	sum     hash.Hash
	records int64
	done    bool
	meta    map[string]string // extra metadata for the published object
}

// Begin starts a snapshot that will be published at object.
func (w *Writer) Begin(ctx context.Context, object string, stamp Stamp) *Snapshot {
	ctx, cancel := context.WithCancel(ctx)
	staged := w.bucket.Object(TmpPrefix + stamp.RunID + "/" + object)
	gw := staged.NewWriter(ctx)
	gw.ChunkSize = chunkSize
	gw.ContentType = "application/x-ndjson"
	suffix, _ := json.Marshal(struct {
		Dt          string `json:"dt"`
		ExtractedAt string `json:"_extracted_at"`
		RunID       string `json:"_run_id"`
	}{stamp.Day.Format(DateLayout), stamp.ExtractedAt.UTC().Format(time.RFC3339Nano), stamp.RunID})
	suffix[0] = ',' // `{"dt":…}` becomes `,"dt":…}` to close a record's object
	return &Snapshot{
		w: w, final: object, stamp: stamp, suffix: suffix,
		staged: staged, cancel: cancel, gw: gw,
		buf: bufio.NewWriterSize(gw, 256<<10), sum: sha256.New(),
	}
}

// Add appends one record, given as its canonical JSON object. The record's
// bytes feed the content hash; the per-run fields are appended after hashing.
func (s *Snapshot) Add(record []byte) error {
	if len(record) < 2 || record[0] != '{' || record[len(record)-1] != '}' {
		return fmt.Errorf("add to %s: record is not a JSON object", s.final)
	}
	s.sum.Write(record)
	s.sum.Write([]byte{'\n'})
	s.buf.Write(record[:len(record)-1])
	if len(record) > 2 {
		s.buf.Write(s.suffix)
	} else {
		s.buf.Write(s.suffix[1:]) // empty object: no leading comma
	}
	if err := s.buf.WriteByte('\n'); err != nil {
		return fmt.Errorf("stage %s: %w", s.final, err)
	}
	s.records++
	return nil
}

// Records returns the number of records added so far.
func (s *Snapshot) Records() int64 { return s.records }

// Abort discards the staged object. It is safe to call after Commit.
func (s *Snapshot) Abort() {
	if s.done {
		return
	}
	s.done = true
	s.cancel() // aborts the upload; nothing becomes visible
	s.removeStaged()
}

// removeStaged deletes the staged object, best effort: the bucket's lifecycle
// rule on tmp/ removes anything a crash leaves behind.
func (s *Snapshot) removeStaged() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.staged.Delete(ctx)
}

// Commit completes the staged upload and publishes it at the final name with
// custom metadata, unless the final object already holds the same content.
func (s *Snapshot) Commit(ctx context.Context) (Result, error) {
	if s.done {
		return Result{}, fmt.Errorf("commit %s: snapshot already ended", s.final)
	}
	s.done = true
	defer s.cancel()
	res := Result{Object: s.final, Records: s.records, SHA256: hex.EncodeToString(s.sum.Sum(nil))}
	if err := s.buf.Flush(); err != nil {
		_ = s.gw.Close()
		return Result{}, fmt.Errorf("stage %s: %w", s.final, err)
	}
	if err := s.gw.Close(); err != nil { // the upload completes here
		return Result{}, fmt.Errorf("stage %s: %w", s.final, err)
	}
	defer s.removeStaged()

	final := s.w.bucket.Object(s.final)
	cond := storage.Conditions{DoesNotExist: true}
	attrs, err := final.Attrs(ctx)
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
	case err != nil:
		return Result{}, fmt.Errorf("read attributes of %s: %w", s.final, err)
	case attrs.Metadata[MetaSHA256] == res.SHA256:
		res.Unchanged = true
		res.Generation = attrs.Generation
		return res, nil
	default:
		cond = storage.Conditions{GenerationMatch: attrs.Generation}
	}

	copier := final.If(cond).CopierFrom(s.staged)
	copier.ContentType = "application/x-ndjson"
	copier.Metadata = map[string]string{
		MetaRecords:     strconv.FormatInt(s.records, 10),
		MetaRunID:       s.stamp.RunID,
		MetaSHA256:      res.SHA256,
		MetaExtractedAt: s.stamp.ExtractedAt.UTC().Format(time.RFC3339),
	}
	maps.Copy(copier.Metadata, s.meta)
	out, err := copier.Run(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("publish %s: %w", s.final, err)
	}
	res.Generation = out.Generation
	return res, nil
}
