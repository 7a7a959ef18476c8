// Package pollcarts is the PollCarts function: called every minute by Cloud
// Scheduler, it reads a FakeStore's carts, or a store's orders (orders.go).
// Of a FakeStore it reads every cart, compares each cart's
// fingerprint with the state it committed last time, publishes one
// cart.upserted event per new or changed cart and one cart.deleted tombstone
// per cart that disappeared, waits for every publish, and only then commits
// the new state with a generation precondition.
//
// Every event id is derived from the cart and its content, so whatever
// repeats a publish (a crash before the commit, two overlapping polls, a
// retried request) repeats the same ids, which the warehouse deduplicates.
package pollcarts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/drift"
	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/respond"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/source/connect"
	"github.com/shoplake/shoplake/shared/state"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// FunctionName is the entry point's name.
const FunctionName = "PollCarts"

// Request is the optional JSON body of a call.
type Request struct {
	// AllowShrink lets a listing that came back empty, or much smaller than
	// the carts known, tombstone the carts it no longer lists (see
	// source.CheckShrink): for a store that really lost its carts.
	AllowShrink bool `json:"allow_shrink"`
}

// StateStore loads and commits the poller's state.
type StateStore interface {
	Load(ctx context.Context) ([]state.Entry, int64, error)
	Commit(ctx context.Context, entries []state.Entry, generation int64) (int64, error)
}

// Publisher publishes cart events. It may hold events back to pack them
// into one message: Flush sends what it holds, and a Result resolves only
// once its event was sent.
type Publisher interface {
	Publish(ctx context.Context, ev model.CartEvent) events.Result
	Flush(ctx context.Context)
}

// Deps are the Function's collaborators.
type Deps struct {
	// Source lists FakeStore's carts, and retries the listings of a store.
	Source source.Lister
	// Store and Cursors serve the poll of a store's orders (SOURCE_KIND
	// other than fakestore): the store read as canonical records, and the
	// cursor object of a name (state.CursorObject).
	Store     source.Store
	Cursors   func(object string) CursorStore
	State     StateStore
	Publisher Publisher
	// Lake receives the carts that fail validation, under rejects/carts/.
	Lake   *lake.Writer
	Runs   warehouse.RunRecorder
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Function polls carts.
type Function struct {
	cfg  Config
	deps Deps
}

// New returns a Function. Every dependency is required except Now and,
// unless it polls a store's orders (pollsOrders), Store and Cursors.
func New(cfg Config, deps Deps) (*Function, error) {
	if deps.Source == nil || deps.State == nil || deps.Publisher == nil || deps.Lake == nil || deps.Runs == nil || deps.Logger == nil {
		return nil, errors.New("pollcarts: Source, State, Publisher, Lake, Runs and Logger are required")
	}
	if connect.Canonical(cfg.Source.Kind) && (deps.Store == nil || deps.Cursors == nil) {
		return nil, fmt.Errorf("pollcarts: Store and Cursors are required to poll a %s store", cfg.Source.Kind)
	}
	if cfg.CursorLookback <= 0 {
		cfg.CursorLookback = state.DefaultCursorLookback
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = DefaultRunTimeout
	}
	return &Function{cfg: cfg, deps: deps}, nil
}

// pollsOrders reports whether the store is polled for its orders (a store
// read as canonical records) rather than its carts (a FakeStore).
func (f *Function) pollsOrders() bool {
	return connect.Canonical(f.cfg.Source.Kind)
}

// Summary is the response of a poll. For a store's orders (SOURCE_KIND
// other than fakestore) New counts orders created since the listing's start,
// Changed the other versions published, Deleted the orders the store marks
// deleted, Unchanged the versions the lookback read again, and the state is
// the order cursor.
type Summary struct {
	RunID  string `json:"run_id"`
	Status string `json:"status"`
	// Source is the kind of store polled (SOURCE_KIND).
	Source string `json:"source,omitempty"`
	// From is when a store's listing started (its cursor less the
	// lookback), and Cursor where the committed cursor stands.
	From      string `json:"from,omitempty"`
	Cursor    string `json:"cursor,omitempty"`
	Fetched   int64  `json:"fetched"`
	Valid     int64  `json:"valid"`
	Rejected  int64  `json:"rejected"`
	New       int64  `json:"new"`
	Changed   int64  `json:"changed"`
	Unchanged int64  `json:"unchanged"`
	Deleted   int64  `json:"deleted"`
	// Published counts every event the topic accepted, including the
	// repeats (same ids) of a listing that was started over.
	Published int64 `json:"published"`
	// StateCommitted is false when the poll failed or another poll committed
	// first (Status "superseded"; its events repeat this poll's ids).
	StateCommitted  bool  `json:"state_committed"`
	StateGeneration int64 `json:"state_generation,omitempty"`
	CartsInState    int   `json:"carts_in_state"`
	// RejectReasons counts the rejected carts by kind of reason
	// (lake.ReasonKind).
	RejectReasons map[string]int64 `json:"reject_reasons,omitempty"`
	// Drift is how the listing's carts differ from the model's fields.
	Drift *drift.Report `json:"drift,omitempty"`
	Error string        `json:"error,omitempty"`
}

// what names what the poll read, for its log line.
func (s *Summary) what() string {
	if connect.Canonical(s.Source) {
		return "orders"
	}
	return "carts"
}

// StatusSuperseded is the status of a poll whose state commit lost a race.
const StatusSuperseded = "superseded"

// Error kinds a caller maps to HTTP statuses.
var (
	// ErrSource marks a failure of the storefront API (502).
	ErrSource = respond.Upstream("source failed")
	// ErrPublish marks a failure to publish an event.
	ErrPublish = errors.New("publish failed")
)

// drainEvery bounds how many publish results are held before waiting on them.
const drainEvery = 10000

// poll is one run's working state.
type poll struct {
	f        *Function
	sum      Summary
	started  time.Time
	pending  []events.Result
	firstErr error

	allowShrink bool
	// unreadable is set when a cart was too large to read: its id is
	// unknown, so no cart is taken as deleted by this poll.
	unreadable bool
	// drift counts the listing's fields against the model's.
	drift *drift.Tracker
}

// publish queues ev and, every drainEvery events, waits for the results.
func (p *poll) publish(ctx context.Context, ev model.CartEvent) error {
	p.pending = append(p.pending, p.f.deps.Publisher.Publish(ctx, ev))
	if len(p.pending) >= drainEvery {
		return p.drain(ctx)
	}
	return nil
}

// drain sends what the publisher holds, waits for every queued result and
// returns the first failure.
func (p *poll) drain(ctx context.Context) error {
	p.f.deps.Publisher.Flush(ctx)
	for _, r := range p.pending {
		if _, err := r.Get(ctx); err != nil {
			if p.firstErr == nil {
				p.firstErr = fmt.Errorf("%w: %w", ErrPublish, err)
			}
			continue
		}
		p.sum.Published++
	}
	p.pending = p.pending[:0]
	return p.firstErr
}

// Run performs one poll.
func (f *Function) Run(ctx context.Context, req Request) (Summary, error) {
	p := &poll{f: f, started: f.deps.Now(), allowShrink: req.AllowShrink}
	p.sum = Summary{RunID: warehouse.NewRunID(p.started), Status: warehouse.StatusSucceeded}
	logger := logging.FromContextOr(ctx, f.deps.Logger).With(logging.Labels(p.sum.RunID, FunctionName))
	ctx = logging.WithLogger(ctx, logger)
	ctx, cancel := config.WithRunTimeout(ctx, FunctionName, f.cfg.RunTimeout)
	defer cancel()
	p.sum.Source = f.cfg.Source.Kind
	run := p.run
	if f.pollsOrders() {
		run = p.pollOrders
	}
	err := config.NameRunTimeout(ctx, run(ctx))
	if err != nil {
		p.sum.Status, p.sum.Error = warehouse.StatusFailed, err.Error()
		logger.ErrorContext(ctx, "poll failed", "error", err, "published", p.sum.Published)
	} else {
		logger.InfoContext(ctx, "polled "+p.sum.what(), "new", p.sum.New, "changed", p.sum.Changed, "deleted", p.sum.Deleted,
			"unchanged", p.sum.Unchanged, "published", p.sum.Published, "state_committed", p.sum.StateCommitted)
	}
	f.recordRun(ctx, p, err)
	return p.sum, err
}

func (p *poll) run(ctx context.Context) error {
	f := p.f
	prev, gen, err := f.deps.State.Load(ctx)
	if err != nil {
		return fmt.Errorf("load cart state: %w", err)
	}
	path, windowStart := p.window()
	d, rejects, err := p.listCarts(ctx, prev, path)
	defer func() { rejects.Abort() }()
	if err != nil {
		_ = p.drain(ctx)
		return err
	}
	if err := p.holdBackCollapse(ctx, d, rejects, windowStart); err != nil {
		return err
	}
	if err := p.tombstones(ctx, d, windowStart); err != nil {
		return err // nothing committed: the next poll publishes again
	}
	p.sum.RejectReasons = rejects.Reasons()
	if _, err := rejects.Commit(ctx); err != nil {
		return err
	}
	return p.commit(ctx, d, gen)
}

// window is the cart listing's path, and the first day (since the epoch)
// it lists: every cart, or those of the last WindowDays days.
func (p *poll) window() (string, int32) {
	if p.f.cfg.WindowDays <= 0 {
		return "/carts", int32(-1 << 31)
	}
	today := p.started.UTC().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -p.f.cfg.WindowDays)
	path := fmt.Sprintf("/carts?startdate=%s&enddate=%s", from.Format(lake.DateLayout), today.AddDate(0, 0, 1).Format(lake.DateLayout))
	return path, int32(from.Unix() / 86400)
}

// listCarts lists the carts, publishing the new and changed ones, and
// returns the differ that holds the next state and the poll's rejects. A
// transient failure of the source starts the listing over; what was
// published stays published, and the repeat publishes the same ids.
func (p *poll) listCarts(ctx context.Context, prev []state.Entry, path string) (*differ, *lake.Quarantine, error) {
	f := p.f
	stamp := lake.Stamp{Day: p.started.UTC().Truncate(24 * time.Hour), RunID: p.sum.RunID, ExtractedAt: p.started.UTC()}
	var d *differ
	var rejects *lake.Quarantine
	err := f.deps.Source.Retry(ctx, model.Carts.Name, func(ctx context.Context) error {
		if rejects != nil {
			rejects.Abort()
		}
		d, rejects = newDiffer(prev), f.deps.Lake.Quarantine(model.Carts.Name, stamp)
		p.sum.Fetched, p.sum.Valid, p.sum.Rejected, p.sum.New, p.sum.Changed, p.sum.Unchanged = 0, 0, 0, 0, 0, 0
		p.unreadable, p.drift = false, drift.NewTracker(model.Carts.Schema())
		return p.list(ctx, path, d, rejects)
	})
	if p.drift != nil {
		r := p.drift.Report()
		p.sum.Drift = &r
		drift.Log(ctx, logging.FromContext(ctx), model.Carts.Name, r)
	}
	return d, rejects, err
}

// holdBackCollapse fails the poll, deleting no cart and committing nothing,
// when the listing came back empty or far smaller than the carts known
// (source.CheckShrink) and the call did not allow it: the reason is written
// beside the rejects.
func (p *poll) holdBackCollapse(ctx context.Context, d *differ, rejects *lake.Quarantine, windowStart int32) error {
	known := d.known(windowStart)
	if known == 0 || p.allowShrink {
		return nil
	}
	// Invalid carts are kept, not deleted, but they count as missing here:
	// a listing mostly rejected leaves the marts stale.
	collapsed := source.CheckShrink("the cart listing", int64(known), p.sum.Fetched, p.sum.Valid, p.f.cfg.Source.HTTP.MaxShrink)
	if collapsed == nil {
		return nil
	}
	_ = p.drain(ctx)
	why := lake.TopReasons(rejects.Reasons(), 3, model.ReasonPrefixes(model.Carts.Name)...)
	if err := rejects.Add(ctx, nil, collapsed); err != nil {
		return fmt.Errorf("write rejected carts: %w", err)
	}
	p.sum.RejectReasons = rejects.Reasons()
	object, err := rejects.Commit(ctx)
	if err != nil {
		return err
	}
	logging.FromContext(ctx).ErrorContext(ctx, "listing held back", "reason", collapsed.Error(), "carts_in_state", known)
	if p.sum.Rejected > 0 {
		return fmt.Errorf("%w: %w; no cart deleted, state not committed; rejected: %s (see %s); allow_shrink would accept the %d valid carts and keep the others as they were",
			ErrSource, collapsed, why, object, p.sum.Valid)
	}
	return fmt.Errorf("%w: %w; no cart deleted, state not committed; call with allow_shrink to accept it", ErrSource, collapsed)
}

// tombstones publishes a cart.deleted event for each cart of the state the
// listing no longer shows (those outside the window, or of a poll that
// could not read every cart, are kept), then waits for every publish.
func (p *poll) tombstones(ctx context.Context, d *differ, windowStart int32) error {
	for _, e := range d.unseen() {
		if e.Day < windowStart || p.unreadable {
			d.next = append(d.next, e) // outside the window: not re-read, not deleted
			continue
		}
		p.sum.Deleted++
		if err := p.publish(ctx, model.NewDeleteEvent(e.CartID, e.Fingerprint, p.started, p.f.deps.Now())); err != nil {
			_ = p.drain(ctx)
			return err
		}
	}
	return p.drain(ctx)
}

// commit commits the next state with the generation loaded; another poll
// having committed first makes this one superseded.
func (p *poll) commit(ctx context.Context, d *differ, gen int64) error {
	d.next = state.SortUnique(d.next)
	p.sum.CartsInState = len(d.next)
	newGen, err := p.f.deps.State.Commit(ctx, d.next, gen)
	if errors.Is(err, state.ErrConflict) {
		p.sum.Status = StatusSuperseded
		logging.FromContext(ctx).WarnContext(ctx, "another poll committed the cart state first; this poll's events repeat its ids", "generation", gen)
		return nil
	}
	if err != nil {
		return fmt.Errorf("commit cart state: %w", err)
	}
	p.sum.StateCommitted, p.sum.StateGeneration = true, newGen
	return nil
}

// change is how a polled cart compares with the state.
type change int

const (
	changeNone      change = iota // same fingerprint as last time
	changeNew                     // not in the state
	changeUpdated                 // in the state with another fingerprint
	changeDuplicate               // listed again by the source; the first listing counts
)

// differ compares the carts of one poll with the committed state and builds
// the next state.
type differ struct {
	prev []state.Entry // committed state, sorted by cart id
	seen []bool        // prev[i] was listed by the source this poll
	// added holds the ids of the carts listed this poll that prev lacks.
	added model.Listing
	next  []state.Entry // the state to commit
	buf   []byte        // scratch for fingerprints
}

func newDiffer(prev []state.Entry) *differ {
	return &differ{prev: prev, seen: make([]bool, len(prev)), next: make([]state.Entry, 0, len(prev))}
}

// observe fingerprints a valid cart, records it in the next state and says
// how it changed.
func (d *differ) observe(c *model.Cart) (change, model.Fingerprint) {
	var fp model.Fingerprint
	fp, d.buf = model.CartFingerprint(c, d.buf)
	i, known := find(d.prev, c.ID)
	if (known && d.seen[i]) || (!known && d.added.Repeat(c.ID)) {
		return changeDuplicate, fp
	}
	d.next = append(d.next, state.Entry{CartID: c.ID, Fingerprint: fp, Day: model.CartDay(c)})
	if !known {
		return changeNew, fp
	}
	d.seen[i] = true
	if d.prev[i].Fingerprint == fp {
		return changeNone, fp
	}
	return changeUpdated, fp
}

// keep carries a cart that could not be read this poll over unchanged.
func (d *differ) keep(cartID int64) {
	if i, ok := find(d.prev, cartID); ok && !d.seen[i] {
		d.seen[i] = true
		d.next = append(d.next, d.prev[i])
	}
}

// known counts the state's carts dated on or after windowStart: the ones a
// full listing should show again.
func (d *differ) known(windowStart int32) int {
	n := 0
	for _, e := range d.prev {
		if e.Day >= windowStart {
			n++
		}
	}
	return n
}

// unseen returns the state's carts the source did not list this poll.
func (d *differ) unseen() []state.Entry {
	var out []state.Entry
	for i, e := range d.prev {
		if !d.seen[i] {
			out = append(out, e)
		}
	}
	return out
}

// find returns the index of cartID in entries, sorted by id.
func find(entries []state.Entry, cartID int64) (int, bool) {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].CartID >= cartID })
	return i, cartID > 0 && i < len(entries) && entries[i].CartID == cartID
}

// cartID reads the id of an element that failed validation, or 0.
func cartID(raw json.RawMessage) int64 {
	var v struct {
		ID int64 `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return 0
	}
	return v.ID
}

// list makes one attempt at the cart listing: every cart is compared with
// prev, new and changed ones are published, invalid ones quarantined.
func (p *poll) list(ctx context.Context, path string, d *differ, rejects *lake.Quarantine) error {
	var publishErr, writeErr error // failures that are not the source's
	srcErr := p.f.deps.Source.Each(ctx, path, func(raw json.RawMessage, big *source.OversizedError) error {
		p.sum.Fetched++
		if big != nil {
			p.sum.Rejected++
			p.unreadable = true
			writeErr = rejects.Add(ctx, nil, big)
			return writeErr
		}
		p.drift.Observe(raw)
		v, err := model.Carts.Decode(raw)
		if err != nil {
			p.sum.Rejected++
			// A cart that is still there but unreadable is not deleted: keep
			// what we knew of it.
			d.keep(cartID(raw))
			writeErr = rejects.Add(ctx, raw, err)
			return writeErr
		}
		c := v.(*model.Cart)
		change, fp := d.observe(c)
		if change == changeDuplicate {
			p.sum.Rejected++
			writeErr = rejects.Add(ctx, raw, model.Repeated(model.Carts.Name))
			return writeErr
		}
		p.sum.Valid++
		switch change {
		case changeNone:
			p.sum.Unchanged++
			return nil
		case changeNew:
			p.sum.New++
		case changeUpdated:
			p.sum.Changed++
		}
		if err := p.publish(ctx, model.NewUpsertEvent(c, fp, p.started, p.f.deps.Now())); err != nil {
			publishErr = err
			return err
		}
		return nil
	})
	switch {
	case publishErr != nil:
		return publishErr
	case writeErr != nil:
		return fmt.Errorf("write rejected carts: %w", writeErr)
	case srcErr != nil:
		return fmt.Errorf("%w: carts: %w", ErrSource, srcErr)
	}
	return nil
}

func (f *Function) recordRun(ctx context.Context, p *poll, runErr error) {
	run := warehouse.Run{
		RunID: p.sum.RunID, Function: FunctionName, StartedAt: p.started.UTC(), FinishedAt: f.deps.Now().UTC(),
		Status: p.sum.Status, RecordsIn: p.sum.Fetched, RecordsOut: p.sum.Published, RecordsRejected: p.sum.Rejected,
		Details: warehouse.DetailsJSON(p.sum),
	}
	if runErr != nil {
		run.Error = runErr.Error()
	}
	warehouse.Record(ctx, f.deps.Runs, run)
}
