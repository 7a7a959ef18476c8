// Package state keeps what the source functions remember between runs, each
// as one object in the raw bucket committed with an ifGenerationMatch
// precondition, so of two overlapping runs only one can commit: PollCarts'
// memory of the carts it has published (one entry per cart: id, fingerprint
// of its content, date), and the cursors of incremental listings (Cursor).
//
// The cart state's encoding is binary and compact, about 12 bytes a cart (11.4 MiB at a
// million carts; a JSON map of the same data is about 40 bytes a cart), because the whole state is read and written on
// every poll, every minute, at up to millions of carts:
//
//	"SLCS1\n" | uvarint count | count × (uvarint id delta, 8-byte fingerprint, varint day)
//
// Entries are sorted by cart id; ids are stored as deltas from the previous id.
package state

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/shoplake/shoplake/shared/model"
)

// Entry is what the poller remembers of one cart.
type Entry struct {
	CartID      int64
	Fingerprint model.Fingerprint
	// Day is the cart's date in days since the Unix epoch.
	Day int32
}

const magic = "SLCS1\n"

// ErrCorrupt reports a state object that cannot be decoded.
var ErrCorrupt = errors.New("corrupt cart state")

// Encode serialises entries, which must be sorted by CartID with no repeats.
func Encode(entries []Entry) []byte {
	b := make([]byte, 0, len(magic)+binary.MaxVarintLen64+len(entries)*12)
	b = append(b, magic...)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	var prev int64
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(e.CartID-prev))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Fingerprint))
		b = binary.AppendVarint(b, int64(e.Day))
		prev = e.CartID
	}
	return b
}

// Decode parses an encoded state.
func Decode(b []byte) ([]Entry, error) {
	if !bytes.HasPrefix(b, []byte(magic)) {
		return nil, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	b = b[len(magic):]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) { // each entry takes at least 10 bytes
		return nil, fmt.Errorf("%w: bad entry count", ErrCorrupt)
	}
	b = b[k:]
	entries := make([]Entry, 0, n)
	var id int64
	for i := uint64(0); i < n; i++ {
		delta, k := binary.Uvarint(b)
		if k <= 0 || len(b) < k+8 || (i > 0 && delta == 0) || delta > 1<<62 {
			return nil, fmt.Errorf("%w: entry %d", ErrCorrupt, i)
		}
		id += int64(delta)
		fp := model.Fingerprint(binary.BigEndian.Uint64(b[k:]))
		b = b[k+8:]
		day, k := binary.Varint(b)
		if k <= 0 || day < -1<<31 || day >= 1<<31 {
			return nil, fmt.Errorf("%w: entry %d day", ErrCorrupt, i)
		}
		b = b[k:]
		entries = append(entries, Entry{CartID: id, Fingerprint: fp, Day: int32(day)})
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(b))
	}
	return entries, nil
}

// SortUnique orders entries by cart id and drops repeated ids, keeping the
// first of each, as Encode requires.
func SortUnique(entries []Entry) []Entry {
	slices.SortStableFunc(entries, func(a, b Entry) int { return cmp.Compare(a.CartID, b.CartID) })
	return slices.CompactFunc(entries, func(a, b Entry) bool { return a.CartID == b.CartID })
}

// ErrConflict reports that another poll committed the state first.
var ErrConflict = errors.New("cart state was committed by another poll")

// Store reads and commits the state object.
type Store struct {
	bucket *storage.BucketHandle
	obj    *storage.ObjectHandle
	name   string

	// Recovered, when set, is told that Load found the current generation
	// unreadable (err) and read the earlier generation used instead.
	Recovered func(unreadable, used int64, err error)
}

// NewStore returns a Store for the object name in bucket.
func NewStore(bucket *storage.BucketHandle, name string) *Store {
	return &Store{bucket: bucket, obj: bucket.Object(name), name: name}
}

// Load returns the committed entries and the object's generation; a state
// that does not exist yet is empty with generation 0.
//
// The poller writes the object whole or not at all, so a generation that
// does not decode was written by something else. When the bucket keeps
// noncurrent versions, Load then returns the entries of the newest earlier
// generation that decodes (telling Recovered), with the current generation
// for Commit's precondition: the poll publishes again what changed since,
// and event ids are content hashes, so the warehouse drops what it had.
// Without such a version, the error wraps ErrCorrupt, and the generation
// returned is the unreadable one, for a caller that replaces it.
func (s *Store) Load(ctx context.Context) ([]Entry, int64, error) {
	entries, gen, err := s.read(ctx, s.obj)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, 0, nil
	}
	if !errors.Is(err, ErrCorrupt) {
		return entries, gen, err
	}
	older, used, ok, listErr := s.newestReadable(ctx, gen)
	if listErr != nil {
		return nil, gen, fmt.Errorf("%w; and no earlier generation could be listed: %w", err, listErr)
	}
	if !ok {
		return nil, gen, err
	}
	if s.Recovered != nil {
		s.Recovered(gen, used, err)
	}
	return older, gen, nil
}

// read reads and decodes one generation of the object, returning the
// generation read even when it does not decode.
func (s *Store) read(ctx context.Context, obj *storage.ObjectHandle) ([]Entry, int64, error) {
	r, err := obj.NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, 0, err
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", s.name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", s.name, err)
	}
	entries, err := Decode(b)
	if err != nil {
		return nil, r.Attrs.Generation, fmt.Errorf("decode %s (generation %d): %w", s.name, r.Attrs.Generation, err)
	}
	return entries, r.Attrs.Generation, nil
}

// maxRecoveryReads bounds the earlier generations Load tries.
const maxRecoveryReads = 10

// newestReadable returns the entries of the newest generation before
// current that decodes, if one of the maxRecoveryReads newest does.
func (s *Store) newestReadable(ctx context.Context, current int64) ([]Entry, int64, bool, error) {
	var gens []int64
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: s.name, Versions: true})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, 0, false, fmt.Errorf("list the versions of %s: %w", s.name, err)
		}
		if a.Name == s.name && a.Generation < current {
			gens = append(gens, a.Generation)
		}
	}
	slices.Sort(gens)
	for i := len(gens) - 1; i >= 0 && i >= len(gens)-maxRecoveryReads; i-- {
		if entries, _, err := s.read(ctx, s.obj.Generation(gens[i])); err == nil {
			return entries, gens[i], true, nil
		}
	}
	return nil, 0, false, nil
}

// Commit writes entries if the object is still at generation (0: if it still
// does not exist). It returns the new generation, or ErrConflict when another
// poll committed in between.
func (s *Store) Commit(ctx context.Context, entries []Entry, generation int64) (int64, error) {
	return writeIf(ctx, s.obj, s.name, generation, "application/octet-stream",
		map[string]string{"carts": fmt.Sprint(len(entries)), "format": "SLCS1"}, Encode(entries))
}

// writeIf writes data to obj if it is still at generation (0: if it still
// does not exist), in one request, so it is written whole or not at all,
// and returns the new generation; ErrConflict when another writer came
// first.
func writeIf(ctx context.Context, obj *storage.ObjectHandle, name string, generation int64, contentType string, metadata map[string]string, data []byte) (int64, error) {
	cond := storage.Conditions{GenerationMatch: generation}
	if generation == 0 {
		cond = storage.Conditions{DoesNotExist: true}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.If(cond).NewWriter(ctx)
	w.ContentType = contentType
	w.ChunkSize = 0
	w.Metadata = metadata
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return 0, commitErr(name, err)
	}
	if err := w.Close(); err != nil {
		return 0, commitErr(name, err)
	}
	return w.Attrs().Generation, nil
}

// commitErr names the object a failed commit was of, and a failed
// precondition as ErrConflict.
func commitErr(name string, err error) error {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == 412 {
		return fmt.Errorf("commit %s: %w", name, ErrConflict)
	}
	return fmt.Errorf("commit %s: %w", name, err)
}
