package shopify

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/internal/sourcetest"
	"github.com/shoplake/shoplake/shared/model"
)

// benchStore is a stand-in generating n products (two variants each), n
// customers and orders orders (three lines each) on demand, with a bucket
// that never throttles: the benchmark measures the adapter, not Shopify's
// rate limit (which, on a Standard plan, is what bulk operations are for).
func benchStore(b *testing.B, products, customers, orders int) *Client {
	b.Helper()
	api := shopifyapi.NewServer(shopifyapi.Config{Token: "t", Bucket: shopifyapi.Bucket{Max: 1e12, RestoreRate: 1e12}}, nil)
	api.GenerateStore(products, customers, orders)
	srv := httptest.NewServer(api)
	b.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, APIVersion: "2025-07", AccessToken: "t", TokenName: "bench", BulkPoll: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkAdapter reads the stand-in through the adapter: products,
// customers and orders paged, and the products by bulk export, at the
// issue's sizes (SHOPIFY_BENCH_PRODUCTS, _CUSTOMERS, _ORDERS) and at a tenth
// of them, printing records/s and the peak live heap of the whole process
// (stand-in included) for each.
func BenchmarkAdapter(b *testing.B) {
	ctx := context.Background()
	sizes := sourcetest.Sizes{Products: sourcetest.Size("SHOPIFY_BENCH_PRODUCTS", 100_000),
		Customers: sourcetest.Size("SHOPIFY_BENCH_CUSTOMERS", 100_000), Orders: sourcetest.Size("SHOPIFY_BENCH_ORDERS", 1_000_000)}
	sourcetest.Bench(b, sizes, func(sz sourcetest.Sizes) []sourcetest.Listing {
		c := benchStore(b, sz.Products, sz.Customers, sz.Orders)
		return append(sourcetest.Listings(ctx, c, sz.Products, sz.Customers, sz.Orders), sourcetest.Listing{
			Name: "bulk products", Want: sz.Products, Read: func() (int, error) {
				op, err := c.ExportProducts(ctx)
				if err != nil {
					return 0, err
				}
				n := 0
				err = c.EachExportedProduct(ctx, op, func(p *model.CanonicalProduct, err error) error {
					if err == nil && len(p.Variants) == 2 {
						n++
					}
					return err
				})
				return n, err
			}})
	})
}
