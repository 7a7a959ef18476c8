package ingestbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/state"
)

// DefaultCursorLookback is how far before its cursor an incremental listing
// of orders starts (SOURCE_CURSOR_LOOKBACK): an order whose update became
// visible late is still read, and what is read again is dropped as a repeat.
const DefaultCursorLookback = 15 * time.Minute

// OrdersCursorObject is where the cursor of a store's orders is kept in the
// raw bucket.
func OrdersCursorObject(kind string) string { return "state/cursors/" + kind + "/orders.json" }

// orderIDs is a store that lists the ids of its placed orders (its
// abandoned checkouts aside), for the reconcile that finds the orders it
// deleted for good.
type orderIDs interface {
	OrderIDs(ctx context.Context, fn func(id string) error) error
}

// ordersAttempt makes one attempt at the day's snapshot of a store's orders.
// The first one lists every order. Later ones list the orders updated since
// the cursor (less the lookback), and merge them into the last snapshot:
// each changed order replaces its line, each new one is added, and, where
// the store lists its order ids, an order it no longer lists is left out
// (deleted for good). The cursor moves only once the snapshot is published;
// a run stopped in between lists from the old cursor again and writes the
// same snapshot.
func (f *Function) ordersAttempt(ctx context.Context, se storeEntity, stamp lake.Stamp, allowShrink bool, res *EntityResult) error {
	cursors := state.NewCursorStore(f.deps.Lake.Handle(), OrdersCursorObject(f.deps.Store.Origin().Kind))
	cur, gen, err := cursors.Load(ctx)
	switch {
	case errors.Is(err, state.ErrCorrupt):
		logging.FromContext(ctx).WarnContext(ctx, "orders cursor unreadable: listing every order", "error", err.Error())
		cur = state.Cursor{}
	case err != nil:
		return err
	}
	last, err := f.lastSnapshot(ctx, se.entity, stamp.Day)
	if err != nil {
		return err
	}
	if !last.found {
		cur = state.Cursor{} // nothing to merge into: list every order
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
	var added []string // the changed orders, in listing order
	sourceErr := se.list(ctx, f.deps.Store, f.deps.Key, from, func(rec any, id string, invalid error) error {
		line, err := l.take(ctx, rec, id, invalid)
		if err != nil || line == nil {
			return err
		}
		at := rec.(*model.CanonicalOrder).UpdatedAt
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
		if err := f.mergeOrders(ctx, last.prev.Object, snap, changed, added, res); err != nil {
			return err
		}
		sent, got = snap.Records()+res.Rejected, snap.Records()
	}
	if err := f.publish(ctx, se.entity, snap, rejects, res, stamp.Day, allowShrink, sent, got, &last); err != nil {
		return err
	}
	if _, err := cursors.Commit(ctx, adv.Cursor(), gen); err != nil {
		return fmt.Errorf("%s published, but its cursor was not moved (the next run lists from the old one again, to the same snapshot): %w", res.Object, err)
	}
	return nil
}

// mergeOrders writes into snap the last snapshot's orders, each changed one
// replaced by its new version, less those the store's reconcile of ids no
// longer lists, then the new orders in listing order.
func (f *Function) mergeOrders(ctx context.Context, last string, snap *lake.Snapshot, changed map[string][]byte, added []string, res *EntityResult) error {
	var live map[string]struct{}
	if ids, ok := f.deps.Store.(orderIDs); ok {
		live = map[string]struct{}{}
		if err := ids.OrderIDs(ctx, func(id string) error { live[id] = struct{}{}; return nil }); err != nil {
			return fmt.Errorf("%w: %s reconcile of ids: %w", ErrSource, model.CanonicalOrders, err)
		}
	}
	err := f.deps.Lake.EachRecord(ctx, last, func(line []byte) error {
		var o model.CanonicalOrder
		if err := json.Unmarshal(line, &o); err != nil {
			return fmt.Errorf("merge into %s: a line that is no order: %w", last, err)
		}
		if c, ok := changed[o.SourceID]; ok {
			delete(changed, o.SourceID)
			return snap.Add(c)
		}
		if _, ok := live[o.SourceID]; live != nil && !ok && o.Kind == model.KindOrder {
			res.Deleted++
			return nil
		}
		// The record as it was written, less the per-run fields.
		b, err := json.Marshal(&o)
		if err != nil {
			return err
		}
		res.Kept++
		return snap.Add(b)
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
