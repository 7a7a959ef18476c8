package source

import (
	"context"
	"time"

	"github.com/shoplake/shoplake/shared/model"
)

// Store is a storefront read as canonical records (shared/model): one
// adapter per kind of store (shared/source/fakestore, shopify and
// woocommerce), so that what reads it need not know which store it is.
// IngestBatch snapshots a Shopify or WooCommerce store through it into the
// canonical raw tables.
//
// Each listing streams: fn gets each record as it is read, or, for a record
// the adapter cannot read, a nil record and an error wrapping
// model.ErrInvalid to quarantine (the listing reads on unless fn returns an
// error). since, when not zero, asks only for the records updated after it,
// where the API can filter so (an adapter whose API cannot lists them all,
// and the caller diffs). A listing that fails part-way returns the error,
// fn having seen part of it: the caller publishes nothing of that listing
// and does not move its cursor.
type Store interface {
	// Origin names the store as its records do.
	Origin() model.Origin
	Products(ctx context.Context, since time.Time, fn func(*model.CanonicalProduct, error) error) error
	Customers(ctx context.Context, since time.Time, fn func(*model.CanonicalCustomer, error) error) error
	// Orders lists orders of every kind the store has (carts, abandoned
	// checkouts, orders).
	Orders(ctx context.Context, since time.Time, fn func(*model.CanonicalOrder, error) error) error
}
