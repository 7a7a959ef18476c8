package woocommerce

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/shoplake/shoplake/functions/local/wooapi"
	"github.com/shoplake/shoplake/internal/sourcetest"
	"github.com/shoplake/shoplake/shared/source"
)

// benchStore is a stand-in generating n products, n customers and orders
// orders (three lines each) on demand, read with no request ceiling: the
// benchmark measures the adapter, not a shared host's patience.
func benchStore(b *testing.B, products, customers, orders int) *Store {
	b.Helper()
	api := wooapi.NewServer(wooapi.Config{ConsumerKey: "ck", ConsumerSecret: "cs"}, nil)
	api.GenerateStore(products, customers, orders)
	srv := httptest.NewServer(api)
	b.Cleanup(srv.Close)
	s, err := New(Config{BaseURL: srv.URL, ConsumerKey: "ck", ConsumerSecret: "cs", CredentialsName: "bench",
		HTTP: source.Config{RequestsPerSecond: 1e6}})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAdapter reads the stand-in through the adapter, at the issue's
// sizes (WOOCOMMERCE_BENCH_PRODUCTS, _CUSTOMERS, _ORDERS) and at a tenth of
// them, printing records/s and the peak live heap of the whole process
// (stand-in included).
func BenchmarkAdapter(b *testing.B) {
	sizes := sourcetest.Sizes{Products: sourcetest.Size("WOOCOMMERCE_BENCH_PRODUCTS", 100_000),
		Customers: sourcetest.Size("WOOCOMMERCE_BENCH_CUSTOMERS", 100_000), Orders: sourcetest.Size("WOOCOMMERCE_BENCH_ORDERS", 1_000_000)}
	sourcetest.Bench(b, sizes, func(sz sourcetest.Sizes) []sourcetest.Listing {
		s := benchStore(b, sz.Products, sz.Customers, sz.Orders)
		return sourcetest.Listings(context.Background(), s, sz.Products, sz.Customers, sz.Orders)
	})
}
