package shopify

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/internal/heapwatch"
	"github.com/shoplake/shoplake/shared/model"
)

// benchSize reads a size from the environment (make bench sets none: the
// issue's sizes are the defaults).
func benchSize(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

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
// (stand-in included) for each: a heap that stays flat from a tenth to the
// whole is one that does not grow with the records.
func BenchmarkAdapter(b *testing.B) {
	products := benchSize("SHOPIFY_BENCH_PRODUCTS", 100_000)
	customers := benchSize("SHOPIFY_BENCH_CUSTOMERS", 100_000)
	orders := benchSize("SHOPIFY_BENCH_ORDERS", 1_000_000)
	ctx := context.Background()
	for _, frac := range []int{10, 1} {
		np, nc, no := products/frac, customers/frac, orders/frac
		cases := []struct {
			name string
			n    int
			read func(c *Client) (int, error)
		}{
			{"paged products", np, func(c *Client) (int, error) {
				n := 0
				err := c.Products(ctx, time.Time{}, func(*model.CanonicalProduct, error) error { n++; return nil })
				return n, err
			}},
			{"paged customers", nc, func(c *Client) (int, error) {
				n := 0
				err := c.Customers(ctx, time.Time{}, func(*model.CanonicalCustomer, error) error { n++; return nil })
				return n, err
			}},
			{"paged orders", no, func(c *Client) (int, error) {
				n := 0
				err := c.Orders(ctx, time.Time{}, func(*model.CanonicalOrder, error) error { n++; return nil })
				return n, err
			}},
			{"bulk products", np, func(c *Client) (int, error) {
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
			}},
		}
		for _, tc := range cases {
			b.Run(fmt.Sprintf("%s %d", tc.name, tc.n), func(b *testing.B) {
				c := benchStore(b, np, nc, no)
				for range b.N {
					heapwatch.Measure(b, tc.n, func() (int, error) { return tc.read(c) })
				}
			})
		}
	}
}
