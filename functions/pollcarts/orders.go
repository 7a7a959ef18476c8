package pollcarts

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

// OrdersCursor names PollCarts' cursor over a store's orders, kept at
// state.CursorObject(kind, OrdersCursor) in the raw bucket.
const OrdersCursor = "poll-orders"

// maxHeld is how many events a poll of a store's orders holds back until
// its listing is whole (about 4 KB each with three lines); past it, they
// are published as they are read.
const maxHeld = 5000

// snapshotCursor names IngestBatch's cursor over the same orders, whose
// daily snapshot covers everything up to it.
const snapshotCursor = "orders"

// CursorStore loads and commits one cursor (state.CursorStore).
type CursorStore interface {
	Load(ctx context.Context) (state.Cursor, int64, error)
	Commit(ctx context.Context, c state.Cursor, generation int64) (int64, error)
}

// pollOrders is the poll of a store (SOURCE_KIND shopify or woocommerce):
// its orders and abandoned checkouts updated since the poll's cursor, less
// the lookback, become events on the cart-events path: order.upserted, or
// order.deleted for one the store marks deleted (WooCommerce's trash). An
// order deleted for good leaves nothing to poll: IngestBatch's daily
// reconcile of ids finds it.
//
// Up to maxHeld events, the listing is read whole before anything is
// published: a poll of a minute's changes that fails publishes nothing. A
// longer one (the first poll after the polls were stopped a while) is
// published maxHeld events at a time as it is read, so that memory stays
// bounded; if it fails, what it published is published again under the
// same ids. The cursor moves only once every event is accepted, with a
// generation precondition; a poll stopped in between lists from the old
// cursor again and publishes the same event ids, which the warehouse
// deduplicates. A poll starts from the newer of its own
// cursor and the daily snapshot's (which covers everything before it), so
// however long the polls were stopped, one poll reads at most the updates
// since the last snapshot; the first poll of a store without either starts
// at the lookback before now.
func (p *poll) pollOrders(ctx context.Context) error {
	f := p.f
	kind := f.deps.Store.Origin().Kind
	own := f.deps.Cursors(state.CursorObject(kind, OrdersCursor))
	cur, gen, err := own.Load(ctx)
	if errors.Is(err, state.ErrCorrupt) {
		logging.FromContext(ctx).WarnContext(ctx, "order poll cursor unreadable: polling from the snapshot's cursor", "error", err.Error())
		cur, err = state.Cursor{}, nil
	}
	if err != nil {
		return fmt.Errorf("load the order poll cursor: %w", err)
	}
	snap, _, err := f.deps.Cursors(state.CursorObject(kind, snapshotCursor)).Load(ctx)
	if err != nil && !errors.Is(err, state.ErrCorrupt) {
		return fmt.Errorf("load the order snapshot cursor: %w", err)
	}
	if snap.Since.After(cur.Since) {
		cur = snap
	}
	if cur.Since.IsZero() {
		cur = state.Cursor{Since: p.started.UTC()}
	}
	lookback := f.cfg.CursorLookback
	from := cur.From(lookback)
	p.sum.From = from.UTC().Format(time.RFC3339)

	stamp := lake.Stamp{Day: p.started.UTC().Truncate(24 * time.Hour), RunID: p.sum.RunID, ExtractedAt: p.started.UTC()}
	var (
		adv     *state.Advance
		evs     []model.CartEvent
		rejects *lake.Quarantine
	)
	defer func() { rejects.Abort() }()
	err = f.deps.Source.Retry(ctx, model.CanonicalOrders, func(ctx context.Context) error {
		if rejects != nil {
			rejects.Abort()
		}
		adv, evs, rejects = cur.Advance(lookback), nil, f.deps.Lake.Quarantine(model.CanonicalOrders, stamp)
		p.sum.Fetched, p.sum.Valid, p.sum.Rejected, p.sum.New, p.sum.Changed, p.sum.Unchanged, p.sum.Deleted = 0, 0, 0, 0, 0, 0, 0
		return p.listOrders(ctx, from, adv, rejects, &evs)
	})
	if err != nil {
		// Nothing published, or (past maxHeld) what was is repeated by
		// the next poll; the cursor unchanged. What was sent is counted.
		_ = p.drain(ctx)
		return err
	}
	for _, ev := range evs {
		if err := p.publish(ctx, ev); err != nil {
			_ = p.drain(ctx)
			return err
		}
	}
	if err := p.drain(ctx); err != nil {
		return err // the cursor unchanged: the next poll publishes the same ids
	}
	p.sum.RejectReasons = rejects.Reasons()
	if _, err := rejects.Commit(ctx); err != nil {
		return err
	}
	next := adv.Cursor()
	p.sum.Cursor = next.Since.UTC().Format(time.RFC3339)
	newGen, err := own.Commit(ctx, next, gen)
	if errors.Is(err, state.ErrConflict) {
		p.sum.Status = StatusSuperseded
		logging.FromContext(ctx).WarnContext(ctx, "another poll moved the order cursor first; this poll's events repeat its ids", "generation", gen)
		return nil
	}
	if err != nil {
		return fmt.Errorf("events published, but the order cursor was not moved (the next poll publishes them again, under the same ids): %w", err)
	}
	p.sum.StateCommitted, p.sum.StateGeneration = true, newGen
	return nil
}

// listOrders makes one attempt at the listing of the orders updated since
// from: each valid order read in a version not yet published becomes an
// event in evs; an invalid one is quarantined.
func (p *poll) listOrders(ctx context.Context, from time.Time, adv *state.Advance, rejects *lake.Quarantine, evs *[]model.CartEvent) error {
	var writeErr error // a failure that is not the store's
	srcErr := p.f.deps.Store.Orders(ctx, from, func(o *model.CanonicalOrder, invalid error) error {
		p.sum.Fetched++
		if invalid == nil {
			invalid = model.Validate(o)
		}
		if invalid != nil {
			p.sum.Rejected++
			var raw json.RawMessage
			if o != nil {
				raw, _ = json.Marshal(o)
			}
			writeErr = rejects.Add(ctx, raw, invalid)
			return writeErr
		}
		p.sum.Valid++
		if adv.Repeat(o.SourceID, o.UpdatedAt) {
			p.sum.Unchanged++ // the lookback read again what was published
			return nil
		}
		ev, err := model.NewOrderEvent(o, p.started, p.f.deps.Now())
		if err != nil {
			writeErr = err
			return err
		}
		switch {
		case o.Deleted:
			p.sum.Deleted++
		case !o.CreatedAt.Before(from):
			p.sum.New++
		default:
			p.sum.Changed++
		}
		adv.Published(o.SourceID, o.UpdatedAt)
		*evs = append(*evs, ev)
		if len(*evs) >= maxHeld {
			for _, ev := range *evs {
				if err := p.publish(ctx, ev); err != nil {
					writeErr = err
					return err
				}
			}
			*evs = (*evs)[:0]
		}
		return nil
	})
	switch {
	case errors.Is(writeErr, ErrPublish):
		return writeErr
	case writeErr != nil:
		return fmt.Errorf("orders: %w", writeErr)
	case srcErr != nil:
		return fmt.Errorf("%w: orders: %w", ErrSource, srcErr)
	}
	return nil
}
