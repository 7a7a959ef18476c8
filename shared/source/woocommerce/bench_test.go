package woocommerce

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

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
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	gmt := at.Format(wooapi.GMT)
	api.Generate("products", products, func(i int) wooapi.Record {
		j := fmt.Sprintf(`{"id":%d,"name":"Product %d","type":"simple","status":"publish","sku":"S%d","price":"%d.95","regular_price":"%d.95",`+
			`"date_created_gmt":%q,"date_modified_gmt":%q,"categories":[{"id":%d,"name":"cat-%d","slug":"cat-%d"}]}`,
			i+1, i, i, i%500, i%500, gmt, gmt, i%20, i%20, i%20)
		return wooapi.Record{ID: int64(i + 1), Modified: at, JSON: []byte(j)}
	})
	api.Generate("customers", customers, func(i int) wooapi.Record {
		j := fmt.Sprintf(`{"id":%d,"email":"c%d@example.com","username":"c%d","date_created_gmt":%q,"date_modified_gmt":%q,`+
			`"billing":{"city":"City %d","postcode":"%05d","country":"US"}}`, i+1, i, i, gmt, gmt, i%1000, i%100000)
		return wooapi.Record{ID: int64(i + 1), Modified: at, JSON: []byte(j)}
	})
	api.Generate("orders", orders, func(i int) wooapi.Record {
		line := func(k int) string {
			p := (i*7+k)%max(products, 1) + 1
			return fmt.Sprintf(`{"id":%d,"product_id":%d,"variation_id":0,"quantity":%d,"sku":"S%d","price":%d.95,"subtotal":"1.00","total":"1.00"}`,
				3*i+k, p, k+1, p, p%500)
		}
		j := fmt.Sprintf(`{"id":%d,"status":"completed","currency":"USD","customer_id":%d,"total":"10.00","date_created_gmt":%q,"date_modified_gmt":%q,"line_items":[%s,%s,%s]}`,
			i+1, i%max(customers, 1), gmt, gmt, line(0), line(1), line(2))
		return wooapi.Record{ID: int64(i + 1), Modified: at, Status: "completed", JSON: []byte(j)}
	})
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
