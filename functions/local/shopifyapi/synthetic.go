package shopifyapi

import (
	"fmt"
	"strconv"
	"time"
)

// SyntheticAt is when every synthetic record was created and last changed.
var SyntheticAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// SyntheticID is the GID of the i-th (from 0) synthetic record of a type
// (Product, ProductVariant, Customer, Order).
func SyntheticID(kind string, i int) string {
	return "gid://shopify/" + kind + "/" + strconv.Itoa(i+1)
}

// GenerateStore makes the server hold, generated on demand, products
// products of two variants each, customers customers, and orders orders of
// three lines each (exact prices, each line of a product the catalogue
// holds, each order of a customer it holds). Ids and times are quoted as
// they are: they hold nothing to escape.
func (s *Server) GenerateStore(products, customers, orders int) {
	at := SyntheticAt.Format(time.RFC3339)
	id := func(kind string) func(int) string { return func(i int) string { return SyntheticID(kind, i) } }
	pid, vid, cid, oid := id("Product"), id("ProductVariant"), id("Customer"), id("Order")
	s.Generate("products", products, pid, func(i int) Node {
		j := fmt.Sprintf(`{"id":"%s","title":"Product %d","productType":"cat-%d","status":"ACTIVE","createdAt":"%s","updatedAt":"%s",`+
			`"variants":{"nodes":[{"id":"%s","sku":"S%d-A","price":"%d.95"},{"id":"%s","sku":"S%d-B","price":"%d.45"}]}}`,
			pid(i), i, i%20, at, at, vid(2*i), i, i%500, vid(2*i+1), i, i%500)
		return Node{ID: pid(i), UpdatedAt: SyntheticAt, JSON: []byte(j)}
	})
	s.Generate("customers", customers, cid, func(i int) Node {
		j := fmt.Sprintf(`{"id":"%s","createdAt":"%s","updatedAt":"%s","defaultEmailAddress":{"emailAddress":"c%d@example.com"},`+
			`"defaultAddress":{"city":"City %d","zip":"%05d","countryCodeV2":"US"}}`, cid(i), at, at, i, i%1000, i%100000)
		return Node{ID: cid(i), UpdatedAt: SyntheticAt, JSON: []byte(j)}
	})
	s.Generate("orders", orders, oid, func(i int) Node {
		line := func(k int) string {
			p := (i*7 + k) % max(products, 1)
			return fmt.Sprintf(`{"id":"gid://shopify/LineItem/%d","sku":"S%d-A","quantity":%d,"product":{"id":"%s"},"variant":{"id":"%s"},`+
				`"originalUnitPriceSet":{"shopMoney":{"amount":"%d.95","currencyCode":"USD"}}}`, 3*i+k, p, 1+k, pid(p), vid(2*p), p%500)
		}
		j := fmt.Sprintf(`{"id":"%s","name":"#%d","createdAt":"%s","updatedAt":"%s","cancelledAt":null,"currencyCode":"USD","displayFinancialStatus":"PAID",`+
			`"customer":{"id":"%s"},"totalPriceSet":{"shopMoney":{"amount":"10.00","currencyCode":"USD"}},"lineItems":{"nodes":[%s,%s,%s]}}`,
			oid(i), 1000+i, at, at, cid(i%max(customers, 1)), line(0), line(1), line(2))
		return Node{ID: oid(i), UpdatedAt: SyntheticAt, JSON: []byte(j)}
	})
}
