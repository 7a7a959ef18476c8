package ingestbatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/state"
)

// incrementalAttempt makes one attempt at the day's snapshot of an entity
// that follows its store from a cursor (storeEntity.cursor). The first one
// lists every record. Later ones list the records updated since the cursor
// (less the lookback), and merge them into the last snapshot: each changed
// record replaces its line, each new one is added, and a record the store
// says is gone (storeEntity.gone: a reconcile of ids, or a feed of
// deletions) is left out. The cursor moves only once the snapshot is
// published; a run stopped in between lists from the old cursor again and
// writes the same snapshot.
func (f *Function) incrementalAttempt(ctx context.Context, se storeEntity, stamp lake.Stamp, allowShrink bool, res *EntityResult) error {
	cursors := state.NewCursorStore(f.deps.Lake.Handle(), state.CursorObject(f.deps.Store.Origin().Kind, se.cursor(f.deps.Store)))
	cur, gen, err := cursors.Load(ctx)
	switch {
	case errors.Is(err, state.ErrCorrupt):
		logging.FromContext(ctx).WarnContext(ctx, se.name+" cursor unreadable: listing every record", "error", err.Error())
		cur = state.Cursor{}
	case err != nil:
		return err
	}
	last, err := f.lastSnapshot(ctx, se.entity, stamp.Day)
	if err != nil {
		return err
	}
	if !last.found {
		cur = state.Cursor{} // nothing to merge into: list every record
	}
	if se.exportsWhole(f.deps.Store) && !cur.Full.After(stamp.ExtractedAt.Add(-f.cfg.FullExportEvery)) {
		cur = state.Cursor{} // its periodic export in full
	}
	lookback := f.cfg.CursorLookback
	adv := cur.Advance(lookback)
	from := cur.From(lookback)
	if !from.IsZero() {
		res.From = from.UTC().Format(time.RFC3339)
	}

	snap := f.deps.Lake.Begin(ctx, lake.RawObject(se.entity, stamp.Day), stamp)
	defer snap.Abort()
	rejects := f.deps.Lake.Quarantine(se.entity, stamp)
	defer rejects.Abort()
	l := listed{entity: se.entity, res: res, rejects: rejects, seen: map[string]struct{}{}}
	changed := map[string][]byte{}
	var added []string // the changed records, in listing order
	sourceErr := se.list(ctx, f.deps.Store, f.deps.Key, from, func(rec any, id string, invalid error) error {
		line, err := l.take(ctx, rec, id, invalid)
		if err != nil || line == nil {
			return err
		}
		at := recordOf(rec).UpdatedAt
		if adv.Repeat(id, at) {
			return nil // the lookback read again what the snapshot holds
		}
		adv.Published(id, at)
		if from.IsZero() {
			return l.write(snap.Add(line))
		}
		changed[id] = line
		added = append(added, id)
		return nil
	})
	if err := l.failed(sourceErr); err != nil {
		return err
	}
	sent, got := res.Fetched, res.Valid
	if !from.IsZero() {
		gone, err := se.gone(ctx, f.deps.Store, from)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSource, se.entity, err)
		}
		sameDay := last.prev.Object == lake.RawObject(se.entity, stamp.Day)
		if err := f.merge(ctx, se, last.prev.Object, sameDay, snap, changed, added, gone, res); err != nil {
			return err
		}
		sent, got = snap.Records()+res.Rejected, snap.Records()
	}
	if err := f.publish(ctx, se.entity, snap, rejects, res, stamp.Day, allowShrink, sent, got, &last); err != nil {
		return err
	}
	next := adv.Cursor()
	next.Full = cur.Full
	if from.IsZero() {
		next.Full = stamp.ExtractedAt.UTC()
	}
	if _, err := cursors.Commit(ctx, next, gen); err != nil {
		return fmt.Errorf("%s published, but its cursor was not moved (the next run lists from the old one again, to the same snapshot): %w", res.Object, err)
	}
	return nil
}

// merge writes into snap the last snapshot's records, each changed one
// replaced by its new version, less those gone, then the new records in
// listing order. When the last snapshot is the same day's (a rerun), which
// this one replaces in the lake and the raw table, a record gone since is
// written as a tombstone instead: left out, it would leave no trace that
// the warehouse could tell from a record never seen. A record that was a
// deletion already is not counted again.
func (f *Function) merge(ctx context.Context, se storeEntity, last string, sameDay bool, snap *lake.Snapshot, changed map[string][]byte, added []string, gone goneFunc, res *EntityResult) error {
	err := f.eachLastRecord(ctx, se, last, func(rec any, r *model.Record) error {
		if c, ok := changed[r.SourceID]; ok {
			delete(changed, r.SourceID)
			return snap.Add(c)
		}
		var kind model.OrderKind
		if o, ok := rec.(*model.CanonicalOrder); ok {
			kind = o.Kind
		}
		if gone(r.SourceID, kind) {
			if !r.Deleted {
				res.Deleted++
			}
			if !sameDay {
				return nil
			}
			r.Deleted = true
		} else {
			res.Kept++
		}
		return addRecord(snap, rec)
	})
	if err != nil {
		return err
	}
	for _, id := range added {
		if c, ok := changed[id]; ok {
			if err := snap.Add(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// goneFunc says whether the store no longer holds a record of the last
// snapshot: by its id, and for orders by its kind.
type goneFunc func(id string, kind model.OrderKind) bool

// orderIDs is a store that lists the ids of its placed orders (its
// abandoned checkouts aside), for the reconcile that finds the orders it
// deleted for good.
type orderIDs interface {
	OrderIDs(ctx context.Context, fn func(id string) error) error
}

// productIDs is a store that lists the ids of its products, trashed ones
// included, for the reconcile that finds the products it deleted for good
// (woocommerce.Store).
type productIDs interface {
	ProductIDs(ctx context.Context, fn func(id string) error) error
}

// ordersGone is the orders' reconcile: a placed order the store no longer
// lists was deleted for good (carts and abandoned checkouts are not in its
// listing of ids, and are kept).
func ordersGone(ctx context.Context, s source.Store, _ time.Time) (goneFunc, error) {
	ids, ok := s.(orderIDs)
	if !ok {
		return reconcile(ctx, nil, nil)
	}
	return reconcile(ctx, ids.OrderIDs, func(kind model.OrderKind) bool { return kind == model.KindOrder })
}

// deletedProducts is a store that keeps a feed of the products it deleted
// (shopify.Client: deletionEvents).
type deletedProducts interface {
	DeletedProducts(ctx context.Context, since time.Time, fn func(*model.CanonicalProduct, error) error) error
}

// productsGone says which products the store deleted for good: those its
// feed of deletions names since from, or, for a store without one, those
// its listing of ids (trashed ones included) no longer has.
func productsGone(ctx context.Context, s source.Store, from time.Time) (goneFunc, error) {
	if feed, ok := s.(deletedProducts); ok {
		gone := map[string]struct{}{}
		err := feed.DeletedProducts(ctx, from, func(p *model.CanonicalProduct, err error) error {
			if err != nil {
				return err // an unreadable deletion: the snapshot would keep a deleted product
			}
			gone[p.SourceID] = struct{}{}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("feed of deletions: %w", err)
		}
		return func(id string, _ model.OrderKind) bool { _, ok := gone[id]; return ok }, nil
	}
	ids, ok := s.(productIDs)
	if !ok {
		return reconcile(ctx, nil, nil)
	}
	return reconcile(ctx, ids.ProductIDs, func(model.OrderKind) bool { return true })
}

// reconcile lists the ids the store holds: a record of a kind listed says
// is in the listing, and that is not, is gone. Without a listing (a store
// that cannot list ids) nothing is.
func reconcile(ctx context.Context, list func(ctx context.Context, fn func(id string) error) error, listed func(model.OrderKind) bool) (goneFunc, error) {
	if list == nil {
		return func(string, model.OrderKind) bool { return false }, nil
	}
	live := map[string]struct{}{}
	if err := list(ctx, func(id string) error { live[id] = struct{}{}; return nil }); err != nil {
		return nil, fmt.Errorf("reconcile of ids: %w", err)
	}
	return func(id string, kind model.OrderKind) bool {
		_, ok := live[id]
		return !ok && listed(kind)
	}, nil
}
