package shopify

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/internal/sourcetest"
	"github.com/shoplake/shoplake/shared/model"
)

var benchAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func benchID(kind string) func(int) string {
	return func(i int) string { return "gid://shopify/" + kind + "/" + strconv.Itoa(i+1) }
}

// benchStore is a stand-in generating n products (two variants each), n
// customers and orders orders (three lines each) on demand, with a bucket
// that never throttles: the benchmark measures the adapter, not Shopify's
// rate limit (which, on a Standard plan, is what bulk operations are for).
func benchStore(b *testing.B, products, customers, orders int) *Client {
	b.Helper()
	api := shopifyapi.NewServer(shopifyapi.Config{Token: "t", Bucket: shopifyapi.Bucket{Max: 1e12, RestoreRate: 1e12}}, nil)
	at := benchAt.Format(time.RFC3339)
	pid, vid, cid, oid := benchID("Product"), benchID("ProductVariant"), benchID("Customer"), benchID("Order")
	api.Generate("products", products, pid, func(i int) shopifyapi.Node {
		j := fmt.Sprintf(`{"id":%q,"title":"Product %d","productType":"cat-%d","status":"ACTIVE","createdAt":%q,"updatedAt":%q,`+
			`"variants":{"nodes":[{"id":%q,"sku":"S%d-A","price":"%d.95"},{"id":%q,"sku":"S%d-B","price":"%d.45"}]}}`,
			pid(i), i, i%20, at, at, vid(2*i), i, i%500, vid(2*i+1), i, i%500)
		return shopifyapi.Node{ID: pid(i), UpdatedAt: benchAt, JSON: []byte(j)}
	})
	api.Generate("customers", customers, cid, func(i int) shopifyapi.Node {
		j := fmt.Sprintf(`{"id":%q,"createdAt":%q,"updatedAt":%q,"defaultEmailAddress":{"emailAddress":"c%d@example.com"},`+
			`"defaultAddress":{"city":"City %d","zip":"%05d","countryCodeV2":"US"}}`, cid(i), at, at, i, i%1000, i%100000)
		return shopifyapi.Node{ID: cid(i), UpdatedAt: benchAt, JSON: []byte(j)}
	})
	api.Generate("orders", orders, oid, func(i int) shopifyapi.Node {
		line := func(k int) string {
			p := (i*7 + k) % max(products, 1)
			return fmt.Sprintf(`{"id":"gid://shopify/LineItem/%d","sku":"S%d-A","quantity":%d,"product":{"id":%q},"variant":{"id":%q},`+
				`"originalUnitPriceSet":{"shopMoney":{"amount":"%d.95","currencyCode":"USD"}}}`, 3*i+k, p, 1+k, pid(p), vid(2*p), p%500)
		}
		j := fmt.Sprintf(`{"id":%q,"name":"#%d","createdAt":%q,"updatedAt":%q,"cancelledAt":null,"currencyCode":"USD","displayFinancialStatus":"PAID",`+
			`"customer":{"id":%q},"totalPriceSet":{"shopMoney":{"amount":"10.00","currencyCode":"USD"}},"lineItems":{"nodes":[%s,%s,%s]}}`,
			oid(i), 1000+i, at, at, cid(i%max(customers, 1)), line(0), line(1), line(2))
		return shopifyapi.Node{ID: oid(i), UpdatedAt: benchAt, JSON: []byte(j)}
	})
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
