package source

import "context"

// Paged reads a listing a page at a time: fetch gets page n (from 1),
// knowing the page before it (the zero P for the first), and says whether
// another follows; use handles each page in order. While use handles page
// n, page n+1 is already being fetched, so one request is in flight at a
// time and the source's latency overlaps the caller's work. A failure of
// fetch or use ends the listing; a page fetched ahead is then cancelled and
// waited for.
func Paged[P any](ctx context.Context, fetch func(ctx context.Context, n int, prev P) (P, bool, error), use func(n int, page P) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		page P
		more bool
		err  error
	}
	next := make(chan result, 1)
	get := func(n int, prev P) {
		p, more, err := fetch(ctx, n, prev)
		next <- result{p, more, err}
	}
	var first P
	go get(1, first)
	for n := 1; ; n++ {
		r := <-next
		if r.err != nil {
			return r.err
		}
		if r.more {
			go get(n+1, r.page)
		}
		if err := use(n, r.page); err != nil {
			if r.more {
				cancel()
				<-next // the page asked for ahead, cancelled
			}
			return err
		}
		if !r.more {
			return nil
		}
	}
}
