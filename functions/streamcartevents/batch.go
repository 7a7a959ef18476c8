package streamcartevents

import (
	"context"
	"errors"
	"time"

	"github.com/shoplake/shoplake/shared/warehouse"
)

// insertFunc inserts rows and reports a request-level error or one result
// per row (see Warehouse.InsertCartEvents).
type insertFunc func(ctx context.Context, rows []warehouse.CartEventRow) ([]error, error)

// batcher groups the rows of concurrent invocations into one insert: it
// flushes when maxRows are waiting or maxDelay after the first one arrived,
// and hands each caller its own row's outcome.
type batcher struct {
	insert   insertFunc
	maxRows  int
	maxDelay time.Duration
	timeout  time.Duration
	reqs     chan *pendingRow
}

type pendingRow struct {
	row    warehouse.CartEventRow
	done   chan error
	queued time.Time
}

// maxAttempts bounds how often one flush re-inserts rows that BigQuery did
// not attempt because another row of the request failed.
const maxAttempts = 3

func newBatcher(insert insertFunc, maxRows int, maxDelay, timeout time.Duration) *batcher {
	b := &batcher{insert: insert, maxRows: maxRows, maxDelay: maxDelay, timeout: timeout, reqs: make(chan *pendingRow, maxRows)}
	go b.loop()
	return b
}

// Insert queues row and waits until its batch was inserted. It returns nil
// when the row is stored, an error wrapping warehouse.ErrInvalidData when
// the warehouse refused the row, and any other error when it is worth
// retrying. If ctx ends first the row may still be stored, which is harmless:
// its event id deduplicates it.
func (b *batcher) Insert(ctx context.Context, row warehouse.CartEventRow) error {
	p := &pendingRow{row: row, done: make(chan error, 1), queued: time.Now()}
	select {
	case b.reqs <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loop collects batches: a batch closes when it is full or maxDelay after its
// first row was queued. Rows that queued up while the previous batch was
// being inserted have waited already, so they go out at once.
func (b *batcher) loop() {
	for first := range b.reqs {
		batch := []*pendingRow{first}
		deadline := first.queued.Add(b.maxDelay)
	collect:
		for len(batch) < b.maxRows {
			select { // take whatever is already queued
			case p := <-b.reqs:
				batch = append(batch, p)
				continue
			default:
			}
			wait := time.Until(deadline)
			if wait <= 0 {
				break
			}
			timer := time.NewTimer(wait)
			select {
			case p := <-b.reqs:
				batch = append(batch, p)
			case <-timer.C:
				timer.Stop()
				break collect
			}
			timer.Stop()
		}
		b.flush(batch)
	}
}

// flush inserts a batch on behalf of all its callers, so it runs under its
// own timeout rather than any one caller's context.
func (b *batcher) flush(batch []*pendingRow) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	todo := batch
	for attempt := 1; len(todo) > 0; attempt++ {
		rows := make([]warehouse.CartEventRow, len(todo))
		for i, p := range todo {
			rows[i] = p.row
		}
		perRow, err := b.insert(ctx, rows)
		if err != nil {
			for _, p := range todo {
				p.done <- err
			}
			return
		}
		var again []*pendingRow
		for i, p := range todo {
			rowErr := perRow[i]
			if errors.Is(rowErr, warehouse.ErrRowNotAttempted) && attempt < maxAttempts {
				again = append(again, p)
				continue
			}
			p.done <- rowErr
		}
		todo = again
	}
}
