// Package sourcetest holds what the source adapters' tests and benchmarks
// share (tests and benchmarks only).
package sourcetest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shoplake/shoplake/internal/heapwatch"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/source"
)

// Size reads a benchmark size from the environment variable name, or def.
func Size(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Listing is one whole listing of a store and how many records it gives.
type Listing struct {
	Name string
	Want int
	Read func() (int, error)
}

// Listings are a store's whole product, customer and order listings, each
// counting its records; want* are the counts the store holds.
func Listings(ctx context.Context, s source.Store, products, customers, orders int) []Listing {
	return []Listing{
		{"products", products, func() (int, error) {
			n := 0
			err := s.Products(ctx, time.Time{}, func(*model.CanonicalProduct, error) error { n++; return nil })
			return n, err
		}},
		{"customers", customers, func() (int, error) {
			n := 0
			err := s.Customers(ctx, time.Time{}, func(*model.CanonicalCustomer, error) error { n++; return nil })
			return n, err
		}},
		{"orders", orders, func() (int, error) {
			n := 0
			err := s.Orders(ctx, time.Time{}, func(*model.CanonicalOrder, error) error { n++; return nil })
			return n, err
		}},
	}
}

// Sizes are a benchmark's record counts.
type Sizes struct{ Products, Customers, Orders int }

// Bench runs the listings listings(sizes) gives, at a tenth of sizes and
// in full, each as a sub-benchmark reporting records/s and the peak live
// heap (heapwatch.Measure): a heap the same at a tenth and in full does not
// grow with the records.
func Bench(b *testing.B, sizes Sizes, listings func(Sizes) []Listing) {
	for _, frac := range []int{10, 1} {
		sz := Sizes{sizes.Products / frac, sizes.Customers / frac, sizes.Orders / frac}
		for _, l := range listings(sz) {
			b.Run(fmt.Sprintf("%s %d", l.Name, l.Want), func(b *testing.B) {
				for range b.N {
					heapwatch.Measure(b, l.Want, l.Read)
				}
			})
		}
	}
}
