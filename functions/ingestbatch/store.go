package ingestbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/pseudonym"
	"github.com/shoplake/shoplake/shared/source"
)

// storeEntity is one canonical snapshot of a store: the name a call gives
// it, the lake entity (and raw table) it is written to, and its listing.
type storeEntity struct {
	name, entity string
	// list lists the records updated after since (all when zero).
	list func(ctx context.Context, s source.Store, key pseudonym.Key, since time.Time, fn func(rec any, id string, err error) error) error
	// cursor, when it names one for the store, makes the snapshot follow
	// the store from a cursor of that name (incrementalAttempt); gone then
	// says which records of the last snapshot the store no longer holds.
	// Without one every run lists the entity whole.
	cursor func(s source.Store) string
	gone   func(ctx context.Context, s source.Store, from time.Time) (goneFunc, error)
	// blank makes a record to read a line of the last snapshot into.
	blank func() any
}

// storeEntities are the canonical snapshots of a store, in the order a run
// takes them.
var storeEntities = []storeEntity{
	{"products", model.CanonicalProducts, func(ctx context.Context, s source.Store, _ pseudonym.Key, since time.Time, fn func(any, string, error) error) error {
		each := checked(fn, func(*model.CanonicalProduct) {})
		if b, ok := s.(bulkProducts); ok && since.IsZero() {
			return b.ProductsInBulk(ctx, each)
		}
		return s.Products(ctx, since, each)
	}, productsCursor, productsGone, func() any { return new(model.CanonicalProduct) }},
	{"customers", model.CanonicalCustomers, func(ctx context.Context, s source.Store, key pseudonym.Key, since time.Time, fn func(any, string, error) error) error {
		return s.Customers(ctx, since, checked(fn, func(c *model.CanonicalCustomer) {
			// The address is checked, then replaced by its pseudonym.
			email := c.Email
			c.EmailHash, c.Email = "", ""
			if email != "" {
				c.EmailHash = key.Email(email)
			}
		}))
	}, func(source.Store) string { return "" }, nil, func() any { return new(model.CanonicalCustomer) }},
	{"orders", model.CanonicalOrders, func(ctx context.Context, s source.Store, _ pseudonym.Key, since time.Time, fn func(any, string, error) error) error {
		return s.Orders(ctx, since, checked(fn, func(*model.CanonicalOrder) {}))
	}, func(source.Store) string { return "orders" }, ordersGone, func() any { return new(model.CanonicalOrder) }},
}

// productsCursor names the products' cursor: every store's catalogue is
// followed from a cursor (a store that exports it in bulk is exported whole
// every FullExportEvery, see exportsWhole).
func productsCursor(source.Store) string { return "products" }

// exportsWhole reports whether the entity of s is exported whole in bulk
// when listed in full (a Shopify catalogue), which is then done every
// FullExportEvery whatever its cursor says.
func (se storeEntity) exportsWhole(s source.Store) bool {
	_, ok := s.(bulkProducts)
	return ok && se.entity == model.CanonicalProducts
}

// bulkProducts is a store that lists its whole catalogue in one bulk export
// (shopify.Client), as it asks a large catalogue to be read.
type bulkProducts interface {
	ProductsInBulk(ctx context.Context, fn func(*model.CanonicalProduct, error) error) error
}

// storeEntityNames are the names of storeEntities.
func storeEntityNames() []string {
	names := make([]string, len(storeEntities))
	for i, e := range storeEntities {
		names[i] = e.name
	}
	return names
}

// canonical is a canonical record (model.CanonicalProduct, …).
type canonical interface {
	*model.CanonicalProduct | *model.CanonicalCustomer | *model.CanonicalOrder
}

// checked adapts fn to a listing of records of type R: each record is
// validated, then made fit to write by finish, and handed on with its id; a
// record that fails validation is handed on with its error (and, as its
// record, what may be written of it).
func checked[R canonical](fn func(rec any, id string, err error) error, finish func(R)) func(R, error) error {
	return func(rec R, err error) error {
		if err != nil {
			return fn(nil, "", err)
		}
		invalid := model.Validate(rec)
		finish(rec)
		return fn(rec, sourceID(rec), invalid)
	}
}

// recordOf is what a canonical record carries besides its content.
func recordOf(rec any) *model.Record {
	switch r := rec.(type) {
	case *model.CanonicalProduct:
		return &r.Record
	case *model.CanonicalCustomer:
		return &r.Record
	case *model.CanonicalOrder:
		return &r.Record
	}
	return &model.Record{}
}

// sourceID is a canonical record's id.
func sourceID(rec any) string { return recordOf(rec).SourceID }

// ingestStore snapshots one canonical entity of the store, as ingest does a
// FakeStore's raw one: the whole listing or nothing, retried from the start
// after a transient failure.
func (f *Function) ingestStore(ctx context.Context, name string, stamp lake.Stamp, allowShrink bool) (EntityResult, error) {
	start := f.deps.Now()
	var se storeEntity
	for _, e := range storeEntities {
		if e.name == name {
			se = e
		}
	}
	attempt := f.storeAttempt
	if se.cursor(f.deps.Store) != "" {
		attempt = f.incrementalAttempt
	}
	var res EntityResult
	err := f.deps.Source.Retry(ctx, se.entity, func(ctx context.Context) error {
		res = EntityResult{Entity: se.entity}
		return attempt(ctx, se, stamp, allowShrink, &res)
	})
	res.DurationMillis = f.deps.Now().Sub(start).Milliseconds()
	return res, err
}

// storeAttempt makes one attempt at ingestStore, filling res.
func (f *Function) storeAttempt(ctx context.Context, se storeEntity, stamp lake.Stamp, allowShrink bool, res *EntityResult) error {
	snap := f.deps.Lake.Begin(ctx, lake.RawObject(se.entity, stamp.Day), stamp)
	defer snap.Abort()
	rejects := f.deps.Lake.Quarantine(se.entity, stamp)
	defer rejects.Abort()
	l := listed{entity: se.entity, res: res, rejects: rejects, seen: map[string]struct{}{}}
	sourceErr := se.list(ctx, f.deps.Store, f.deps.Key, time.Time{}, func(rec any, id string, invalid error) error {
		line, err := l.take(ctx, rec, id, invalid)
		if err != nil || line == nil {
			return err
		}
		return l.write(snap.Add(line))
	})
	if err := l.failed(sourceErr); err != nil {
		return err
	}
	last, err := f.lastSnapshot(ctx, se.entity, stamp.Day)
	if err != nil {
		return err
	}
	if last.found && last.prev.Object == lake.RawObject(se.entity, stamp.Day) && res.Rejected == 0 {
		if err := f.keepTombstones(ctx, se, last.prev.Object, snap, l.seen, res); err != nil {
			return err
		}
	}
	return f.publish(ctx, se.entity, snap, rejects, res, stamp.Day, allowShrink, snap.Records()+res.Rejected, snap.Records(), &last)
}

// keepTombstones writes into snap, as a tombstone, each record of the same
// day's last snapshot (a rerun's, which snap replaces in the lake and the
// raw table) that the listing no longer has: left out, it would leave no
// trace that the warehouse could tell from a record never seen. A listing
// with rejects keeps none, since a record it could not read may be one of
// them; the next day's snapshot, measured against this one, tells the
// warehouse instead.
func (f *Function) keepTombstones(ctx context.Context, se storeEntity, last string, snap *lake.Snapshot, listed map[string]struct{}, res *EntityResult) error {
	return f.eachLastRecord(ctx, se, last, func(rec any, r *model.Record) error {
		if _, ok := listed[r.SourceID]; ok {
			return nil
		}
		if !r.Deleted {
			res.Deleted++
		}
		r.Deleted = true
		return addRecord(snap, rec)
	})
}

// eachLastRecord calls fn with each record of the snapshot last, read back
// as the record it was written from (less the per-run fields the lake adds).
func (f *Function) eachLastRecord(ctx context.Context, se storeEntity, last string, fn func(rec any, r *model.Record) error) error {
	return f.deps.Lake.EachRecord(ctx, last, func(line []byte) error {
		rec := se.blank()
		if err := json.Unmarshal(line, rec); err != nil {
			return fmt.Errorf("read back %s: a line that is not a %T: %w", last, rec, err)
		}
		return fn(rec, recordOf(rec))
	})
}

// addRecord writes a record into a snapshot.
func addRecord(snap *lake.Snapshot, rec any) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", recordOf(rec).SourceID, err)
	}
	return snap.Add(b)
}

// listed follows one listing of a store's records into a snapshot.
type listed struct {
	entity   string
	res      *EntityResult
	rejects  *lake.Quarantine
	seen     map[string]struct{}
	writeErr error
}

// take counts one record of the listing and encodes it; an invalid record,
// or a repeat of one the listing has shown, is quarantined instead, and
// take returns no line. An error that is not a record's (the listing
// failed) is returned, as is a failure to write.
func (l *listed) take(ctx context.Context, rec any, id string, invalid error) ([]byte, error) {
	l.res.Fetched++
	var line []byte
	if rec != nil {
		var err error
		if line, err = json.Marshal(rec); err != nil {
			return nil, l.write(fmt.Errorf("encode %s %s: %w", l.entity, id, err))
		}
	}
	if invalid == nil {
		if _, repeat := l.seen[id]; repeat {
			invalid = model.Repeated(l.entity)
		}
		l.seen[id] = struct{}{}
	}
	if invalid == nil {
		l.res.Valid++
		return line, nil
	}
	if !errors.Is(invalid, model.ErrInvalid) {
		return nil, invalid // the listing failed, not one record
	}
	l.res.Rejected++
	return nil, l.write(l.rejects.Add(ctx, line, invalid))
}

// write records a failure to write, which failed tells from the source's.
func (l *listed) write(err error) error {
	if err != nil {
		l.writeErr = err
	}
	return err
}

// failed is the error of a listing that ended with sourceErr
// (listingError).
func (l *listed) failed(sourceErr error) error {
	return listingError(l.entity, l.writeErr, sourceErr)
}

// noticer is a store with something to tell the operator about what it lets
// Shoplake read (shopify.Client: its scopes).
type noticer interface {
	Notice(ctx context.Context) (string, error)
}

// notice asks the store, when it has one, what the operator must know; an
// error (a token lacking a required scope, or refused) fails the run before
// anything is read.
func (f *Function) notice(ctx context.Context) (string, error) {
	n, ok := f.deps.Store.(noticer)
	if !ok {
		return "", nil
	}
	var msg string
	err := f.deps.Source.Retry(ctx, "access scopes", func(ctx context.Context) error {
		var err error
		msg, err = n.Notice(ctx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSource, err)
	}
	return msg, nil
}

// sourceKind names the kind of store the function reads.
func (f *Function) sourceKind() string {
	if f.deps.Store != nil {
		return f.deps.Store.Origin().Kind
	}
	return "fakestore"
}
