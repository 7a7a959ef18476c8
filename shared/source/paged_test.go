package source

import (
	"context"
	"errors"
	"testing"
)

// TestPaged: pages are used in order while the next is fetched; a failure
// of use cancels the page fetched ahead and waits for it.
func TestPaged(t *testing.T) {
	t.Parallel()
	var fetched, cancelled []int
	err := Paged(context.Background(), func(ctx context.Context, n int, prev int) (int, bool, error) {
		if n > 1 && prev != n-1 {
			t.Errorf("page %d was given page %d before it", n, prev)
		}
		fetched = append(fetched, n) // Paged fetches one page at a time
		if n == 3 {
			<-ctx.Done() // a slow page, cancelled when use fails
			cancelled = append(cancelled, n)
			return 0, false, ctx.Err()
		}
		return n, n < 5, nil
	}, func(n int, page int) error {
		if n != page {
			t.Errorf("used page %d as page %d", page, n)
		}
		if n == 2 {
			return errors.New("stop")
		}
		return nil
	})
	if err == nil || err.Error() != "stop" {
		t.Fatalf("Paged = %v, want use's error", err)
	}
	if len(fetched) != 3 || len(cancelled) != 1 {
		t.Errorf("fetched %v, cancelled %v; want pages 1 to 3, the third cancelled", fetched, cancelled)
	}
	err = Paged(context.Background(), func(_ context.Context, n int, _ int) (int, bool, error) { return n, n < 4, nil },
		func(int, int) error { return nil })
	if err != nil {
		t.Errorf("a whole listing: %v", err)
	}
}
