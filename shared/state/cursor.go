package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/storage"
)

// DefaultCursorLookback is how far before its cursor an incremental listing
// (IngestBatch's orders and products, PollCarts' store orders) starts
// (SOURCE_CURSOR_LOOKBACK): a record whose update became visible late is
// still read, and what is read again is dropped as a repeat.
const DefaultCursorLookback = 15 * time.Minute

// CursorObject is where the cursor of a store's incremental listing is
// kept in the raw bucket: name "orders" or "products" for IngestBatch's
// snapshots, "poll-orders" for PollCarts.
func CursorObject(kind, name string) string { return "state/cursors/" + kind + "/" + name + ".json" }

// Cursor is the high-water mark of an incremental listing (a store's orders
// or products updated since the last run): the newest updated_at among the
// records already published, and the records at its edge. The next listing
// asks for what was updated after Since less a lookback, so a record whose
// update became visible late (a slow write, a clock a little off) is still
// read; the records it reads again are in Edge and are dropped as repeats.
// A Cursor is advanced only after what it covers is published, and
// committed like the poller's state, with a generation precondition.
type Cursor struct {
	// Since is the newest updated_at of the published records.
	Since time.Time `json:"since"`
	// Edge holds the published records updated within the lookback before
	// Since: source id → updated_at.
	Edge map[string]time.Time `json:"edge,omitempty"`
	// Full is when the last listing in full (not from a cursor) was read;
	// zero when unknown.
	Full time.Time `json:"full,omitzero"`
}

// From is when the next listing starts: Since less lookback, or the zero
// time (a full listing) for a cursor never advanced.
func (c Cursor) From(lookback time.Duration) time.Time {
	if c.Since.IsZero() {
		return time.Time{}
	}
	return c.Since.Add(-lookback)
}

// Advance follows one incremental listing from the cursor: it tells the
// records already published from the new ones, and builds the next cursor
// from what is published.
type Advance struct {
	prev     Cursor
	lookback time.Duration
	next     Cursor
}

// Advance starts following a listing read from c.From(lookback).
func (c Cursor) Advance(lookback time.Duration) *Advance {
	a := &Advance{prev: c, lookback: lookback, next: Cursor{Since: c.Since, Edge: map[string]time.Time{}}}
	for id, at := range c.Edge {
		a.next.Edge[id] = at
	}
	return a
}

// Repeat reports whether the record id, updated at, was published already:
// the overlap of the lookback read it again in the same version.
func (a *Advance) Repeat(id string, at time.Time) bool {
	seen, ok := a.prev.Edge[id]
	return ok && seen.Equal(at)
}

// Published records that the record id, updated at, was published.
func (a *Advance) Published(id string, at time.Time) {
	at = at.UTC()
	if at.After(a.next.Since) {
		a.next.Since = at
	}
	a.next.Edge[id] = at
}

// Cursor is the next cursor: Since the newest update published, Edge the
// published records within the lookback before it. Commit it once all that
// was published is acknowledged.
func (a *Advance) Cursor() Cursor {
	out := Cursor{Since: a.next.Since, Edge: map[string]time.Time{}}
	from := out.From(a.lookback)
	for id, at := range a.next.Edge {
		if !at.Before(from) {
			out.Edge[id] = at
		}
	}
	if len(out.Edge) == 0 {
		out.Edge = nil
	}
	return out
}

// CursorStore keeps a Cursor as a JSON object in the lake, such as
// state/cursors/shopify/orders.json.
type CursorStore struct {
	obj  *storage.ObjectHandle
	name string
}

// NewCursorStore returns a CursorStore for the object name in bucket.
func NewCursorStore(bucket *storage.BucketHandle, name string) *CursorStore {
	return &CursorStore{obj: bucket.Object(name), name: name}
}

// Load returns the committed cursor and the object's generation; a cursor
// never committed is zero with generation 0. An object that does not decode
// is an error wrapping ErrCorrupt, with its generation: the caller may list
// in full and commit over it.
func (s *CursorStore) Load(ctx context.Context) (Cursor, int64, error) {
	r, err := s.obj.NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return Cursor{}, 0, nil
	}
	if err != nil {
		return Cursor{}, 0, fmt.Errorf("read %s: %w", s.name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return Cursor{}, 0, fmt.Errorf("read %s: %w", s.name, err)
	}
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return Cursor{}, r.Attrs.Generation, fmt.Errorf("decode %s (generation %d): %w: %v", s.name, r.Attrs.Generation, ErrCorrupt, err)
	}
	return c, r.Attrs.Generation, nil
}

// Commit writes c if the object is still at generation (0: if it still
// does not exist), and returns the new generation; ErrConflict when another
// run committed in between.
func (s *CursorStore) Commit(ctx context.Context, c Cursor, generation int64) (int64, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("commit %s: %w", s.name, err)
	}
	return writeIf(ctx, s.obj, s.name, generation, "application/json", nil, b)
}
