package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/schema"
	"github.com/shoplake/shoplake/shared/state"
)

// CartAudit compares the carts PollCarts remembers publishing (its state
// object) with the carts the warehouse holds live (those whose latest event
// in bq_raw.cart_events is an upsert). Once every published event is
// delivered the two agree; where they do not, an event was lost between the
// poller and the warehouse (the lake's archive deleted before a rebuild,
// rows deleted from the warehouse, a dead-lettered message) or the state
// lost what it had published (the state object deleted or replaced), and the
// marts do not show what the source holds.
type CartAudit struct {
	// State counts the carts in PollCarts' state, Live the carts live in the
	// warehouse.
	State int64 `json:"state"`
	Live  int64 `json:"live"`
	// Missing counts the carts of the state that are not live in the
	// warehouse (no event, or a tombstone last).
	Missing int64 `json:"missing"`
	// Differ counts the carts live in both whose version differs: the
	// warehouse's latest is not the one the state holds (an event lost, or
	// a poll stopped after publishing and before committing its state).
	Differ int64 `json:"differ"`
	// Stray counts the carts live in the warehouse that the state does not
	// hold (the poller would neither update nor delete them).
	Stray int64 `json:"stray"`
	// Quarantined counts the carts of the state whose published version
	// StreamCartEvents quarantined in cart_events_rejected: accounted for,
	// not missing.
	Quarantined int64 `json:"quarantined,omitempty"`
	// Examples are up to five ids of carts that disagree.
	Examples []int64 `json:"examples,omitempty"`
	// Unreadable is why the state object could not be decoded, when it
	// could not: its carts then count as none.
	Unreadable string `json:"unreadable,omitempty"`
	// Realigned is set when the run rewrote the state to follow the
	// warehouse, so that its poll published the disagreeing carts again.
	Realigned bool `json:"realigned,omitempty"`
}

// Agrees reports whether the state and the warehouse hold the same carts.
func (a CartAudit) Agrees() bool {
	return a.Missing == 0 && a.Differ == 0 && a.Stray == 0 && a.Unreadable == ""
}

// disagreement describes a failed audit in one clause.
func (a CartAudit) disagreement() string {
	var parts []string
	if a.Unreadable != "" {
		parts = append(parts, fmt.Sprintf("%s is unreadable (%s)", names.StateObject, a.Unreadable))
	}
	if a.Missing > 0 {
		parts = append(parts, fmt.Sprintf("%d cart(s) PollCarts published are not live in the warehouse", a.Missing))
	}
	if a.Differ > 0 {
		parts = append(parts, fmt.Sprintf("%d cart(s) are live in the warehouse in another version than PollCarts' state holds", a.Differ))
	}
	if a.Stray > 0 {
		parts = append(parts, fmt.Sprintf("%d cart(s) live in the warehouse are unknown to PollCarts' state", a.Stray))
	}
	msg := strings.Join(parts, ", and ")
	if len(a.Examples) > 0 {
		ids := make([]string, len(a.Examples))
		for i, id := range a.Examples {
			ids[i] = strconv.FormatInt(id, 10)
		}
		msg += " (carts " + strings.Join(ids, ", ") + ")"
	}
	return msg
}

// maxExamples bounds CartAudit.Examples.
const maxExamples = 5

// auditCarts compares state, sorted by cart id, with the warehouse's live
// carts, also sorted. quarantined reports whether StreamCartEvents
// quarantined an event id. It returns the audit and the state that follows
// the warehouse: its live carts, and the state's entries whose published
// version was quarantined (publishing them again would only quarantine
// them again).
func auditCarts(st, live []state.Entry, quarantined func(eventID string) bool) (CartAudit, []state.Entry) {
	a := CartAudit{State: int64(len(st)), Live: int64(len(live))}
	next := make([]state.Entry, 0, len(live))
	note := func(id int64) {
		if len(a.Examples) < maxExamples {
			a.Examples = append(a.Examples, id)
		}
	}
	i, j := 0, 0
	for i < len(st) || j < len(live) {
		switch {
		case j == len(live) || (i < len(st) && st[i].CartID < live[j].CartID):
			e := st[i]
			i++
			if quarantined(model.CartEventID(e.CartID, e.Fingerprint)) {
				a.Quarantined++
				next = append(next, e)
				continue
			}
			a.Missing++
			note(e.CartID)
		case i == len(st) || live[j].CartID < st[i].CartID:
			a.Stray++
			note(live[j].CartID)
			next = append(next, live[j])
			j++
		default: // the same cart
			e, w := st[i], live[j]
			i, j = i+1, j+1
			switch {
			case e.Fingerprint == w.Fingerprint:
				next = append(next, e)
			case quarantined(model.CartEventID(e.CartID, e.Fingerprint)):
				a.Quarantined++
				next = append(next, e)
			default:
				a.Differ++
				note(e.CartID)
				next = append(next, w)
			}
		}
	}
	return a, next
}

// LiveCarts returns the carts whose latest event in the raw cart_events
// table is an upsert, as state entries sorted by cart id (by the query). The latest event
// is the one the marts take (int_carts_latest): the last published, then
// the highest event id.
func LiveCarts(ctx context.Context, db *sql.DB) ([]state.Entry, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`select cart_id, fingerprint, cart_date from (
	select cart_id, event_type, fingerprint, cart_date,
		row_number() over (partition by cart_id order by published_at desc, event_id desc) as event_rank
	from %s
	where cart_id is not null
) where event_rank = 1 and event_type = 'cart.upserted'
order by cart_id`, names.Raw(schema.CartEvents)))
	if err != nil {
		return nil, fmt.Errorf("read the live carts: %w", err)
	}
	defer rows.Close()
	var live []state.Entry
	for rows.Next() {
		var (
			id   int64
			fp   string
			date sql.NullTime
		)
		if err := rows.Scan(&id, &fp, &date); err != nil {
			return nil, fmt.Errorf("read the live carts: %w", err)
		}
		f, err := strconv.ParseUint(fp, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("read the live carts: cart %d has fingerprint %q: %w", id, fp, err)
		}
		e := state.Entry{CartID: id, Fingerprint: model.Fingerprint(f)}
		if date.Valid {
			e.Day = model.EpochDay(date.Time)
		}
		live = append(live, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the live carts: %w", err)
	}
	return live, nil
}

// quarantinedEvents returns the ids of the events StreamCartEvents
// quarantined in cart_events_rejected.
func quarantinedEvents(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`select distinct event_id from %s where event_id is not null`, names.Raw(schema.CartEventsRejected)))
	if err != nil {
		return nil, fmt.Errorf("read the quarantined events: %w", err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read the quarantined events: %w", err)
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// Ledger reads both sides of the audit: PollCarts' state object in the
// lake and the warehouse's cart events.
type Ledger struct {
	store *state.Store
	db    *sql.DB
}

// NewLedger returns the ledger of PollCarts' state object in bucket and of
// the raw cart events in the warehouse db.
func NewLedger(bucket *storage.BucketHandle, db *sql.DB) *Ledger {
	return &Ledger{store: state.NewStore(bucket, names.StateObject), db: db}
}

// audit compares the state with the warehouse. It returns the state that
// follows the warehouse and the state's generation, for realign.
func (l *Ledger) audit(ctx context.Context) (CartAudit, []state.Entry, int64, error) {
	st, gen, err := l.store.Load(ctx)
	unreadable := ""
	if errors.Is(err, state.ErrCorrupt) {
		// Written whole or not at all, so damaged from outside: what the
		// warehouse holds is then the best account of what was published.
		// gen is the unreadable generation, which realign replaces.
		st, unreadable, err = nil, err.Error(), nil
	}
	if err != nil {
		return CartAudit{}, nil, 0, err
	}
	live, err := LiveCarts(ctx, l.db)
	if err != nil {
		return CartAudit{}, nil, 0, err
	}
	rejected, err := quarantinedEvents(ctx, l.db)
	if err != nil {
		return CartAudit{}, nil, 0, err
	}
	a, next := auditCarts(st, live, func(id string) bool { return rejected[id] })
	a.Unreadable = unreadable
	return a, next, gen, nil
}

// Realign runs before the poll, once every event an earlier run published
// is delivered: where the state and the warehouse disagree, it rewrites the
// state to follow the warehouse, so that the poll compares the source with
// what the warehouse holds and publishes exactly what the warehouse lacks
// (a lost cart again, a tombstone for a stray cart the source no longer
// lists). Publishing again is safe: event ids are content hashes.
func (l *Ledger) Realign(ctx context.Context, out io.Writer) (CartAudit, error) {
	a, next, gen, err := l.audit(ctx)
	if err != nil || a.Agrees() {
		return a, err
	}
	if _, err := l.store.Commit(ctx, next, gen); err != nil {
		return a, fmt.Errorf("realign the cart state with the warehouse: %w", err)
	}
	a.Realigned = true
	fmt.Fprintf(out, "cart state: %s; the state now follows the warehouse, so this poll publishes for them whatever the source holds otherwise\n", a.disagreement())
	return a, nil
}

// Check runs after the poll's events are delivered: the state and the
// warehouse must agree, or the marts would miss what the poll published.
func (l *Ledger) Check(ctx context.Context, deadLettered int64) (CartAudit, error) {
	a, _, _, err := l.audit(ctx)
	if err != nil || a.Agrees() {
		return a, err
	}
	why := ""
	if deadLettered > 0 {
		why = fmt.Sprintf("; %d message(s) were dead-lettered to %s", deadLettered, names.DeadLetterSubscription)
	}
	return a, fmt.Errorf("after the poll, %s%s; the marts would not show what the source holds, and the next run publishes them again", a.disagreement(), why)
}
