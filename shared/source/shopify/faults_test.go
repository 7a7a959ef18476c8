package shopify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/source"
)

// TestAdapterAgainstEveryFault runs a paged listing of 600 products and a
// bulk export through each way the stand-in misbehaves: what can be ridden
// out is, and ends as on a well-behaved store; what cannot ends the listing
// with a named error that no retry repeats.
func TestAdapterAgainstEveryFault(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mode shopifyapi.Mode
		// pagedErr and bulkErr, when set, are what the listing and the
		// export fail with; otherwise each reads every product.
		pagedErr, bulkErr error
	}{
		{mode: shopifyapi.ThrottleStorm},
		{mode: shopifyapi.CutOff},
		{mode: shopifyapi.ByteEvery200ms},
		{mode: shopifyapi.TokenRevoked, pagedErr: ErrUnauthorized, bulkErr: ErrUnauthorized},
		{mode: shopifyapi.BulkExpiredMode, bulkErr: ErrBulk},
	}
	tested := map[shopifyapi.Mode]bool{}
	for _, tc := range cases {
		tested[tc.mode] = true
	}
	for _, m := range shopifyapi.Modes {
		if !tested[m] {
			t.Errorf("no case for the fault %s: test every fault", m)
		}
	}
	for _, tc := range cases {
		t.Run(string(tc.mode), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 600, Config{BulkPoll: 10 * time.Millisecond, HTTP: source.Config{Timeout: time.Second,
				BackoffBase: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond}}, true, shopifyapi.Bucket{Max: 1000, RestoreRate: 1000})
			if err := f.api.Misbehave(tc.mode); err != nil {
				t.Fatal(err)
			}
			check := func(what string, n int, err, want error) {
				t.Helper()
				switch {
				case want == nil && (err != nil || n != 600):
					t.Errorf("%s: %d products, error %v; want all 600", what, n, err)
				case want != nil && (!errors.Is(err, want) || errors.Is(err, source.ErrTransient)):
					t.Errorf("%s: error %v, want %v, not transient", what, err, want)
				}
			}
			n := 0
			err := f.client.Products(context.Background(), time.Time{}, func(_ *model.CanonicalProduct, err error) error { n++; return err })
			check("paged", n, err, tc.pagedErr)
			products, err := exportAll(t, f)
			check("bulk", len(products), err, tc.bulkErr)
		})
	}
}
