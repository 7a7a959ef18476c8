package ingestbatch

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"

	"github.com/shoplake/shoplake/shared/model"
)

// batchSize is how many raw elements travel together between the stages.
const batchSize = 512

// batch carries raw elements to a worker and their outcomes back, in one
// contiguous buffer each to keep allocations per batch, not per record.
type batch struct {
	seq     int
	raw     []byte
	rawEnds []int
	out     []byte
	outEnds []int
	ids     []int64
	errs    []error
	pre     []error // an element the source could not hand over, with why
}

func (b *batch) reset(seq int) {
	b.seq = seq
	b.raw, b.rawEnds = b.raw[:0], b.rawEnds[:0]
	b.out, b.outEnds, b.ids = b.out[:0], b.outEnds[:0], b.ids[:0]
	b.errs, b.pre = b.errs[:0], b.pre[:0]
}

func (b *batch) len() int { return len(b.rawEnds) }

func (b *batch) rawAt(i int) []byte {
	start := 0
	if i > 0 {
		start = b.rawEnds[i-1]
	}
	return b.raw[start:b.rawEnds[i]]
}

func (b *batch) outAt(i int) []byte {
	start := 0
	if i > 0 {
		start = b.outEnds[i-1]
	}
	return b.out[start:b.outEnds[i]]
}

// canonicalize decodes and validates every raw element that each produces,
// on all cores, and calls emit for each in source order with its canonical
// form and id, or its validation error (or the error each gave in its place,
// such as a record over the size limit). The source's order is kept, so the
// snapshot's bytes and hash are those of a sequential run. It returns the
// error of each, or the first error of emit (which stops the reading).
func canonicalize(ctx context.Context, e model.Entity, each func(func(json.RawMessage, error) error) error, emit func(raw, canonical []byte, id int64, invalid error) error) (sourceErr, emitErr error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, runtime.GOMAXPROCS(0))
	pool := sync.Pool{New: func() any { return new(batch) }}
	jobs := make(chan *batch, workers)
	results := make(chan *batch, workers)

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				for i := range b.len() {
					if b.pre[i] != nil {
						b.outEnds = append(b.outEnds, len(b.out))
						b.ids = append(b.ids, 0)
						b.errs = append(b.errs, b.pre[i])
						continue
					}
					rec, id, err := e.CanonicalID(b.rawAt(i))
					b.out = append(b.out, rec...)
					b.outEnds = append(b.outEnds, len(b.out))
					b.ids = append(b.ids, id)
					b.errs = append(b.errs, err)
				}
				results <- b
			}
		}()
	}

	// The writer emits batches in sequence order.
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		pending := map[int]*batch{}
		next := 0
		for b := range results {
			pending[b.seq] = b
			for {
				nb, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				next++
				for i := range nb.len() {
					if emitErr != nil {
						break
					}
					if err := emit(nb.rawAt(i), nb.outAt(i), nb.ids[i], nb.errs[i]); err != nil {
						emitErr = err
						cancel()
					}
				}
				pool.Put(nb)
			}
		}
	}()

	seq := 0
	cur := pool.Get().(*batch)
	cur.reset(seq)
	send := func() error {
		select {
		case jobs <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
		seq++
		cur = pool.Get().(*batch)
		cur.reset(seq)
		return nil
	}
	sourceErr = each(func(raw json.RawMessage, unread error) error {
		cur.raw = append(cur.raw, raw...)
		cur.rawEnds = append(cur.rawEnds, len(cur.raw))
		cur.pre = append(cur.pre, unread)
		if cur.len() == batchSize {
			return send()
		}
		return nil
	})
	if sourceErr == nil && cur.len() > 0 {
		sourceErr = send()
	}
	close(jobs)
	wg.Wait()
	close(results)
	<-writerDone
	return sourceErr, emitErr
}
