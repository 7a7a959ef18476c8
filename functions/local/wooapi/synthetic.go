package wooapi

import (
	"fmt"
	"time"
)

// SyntheticAt is when every synthetic record was created and last modified.
var SyntheticAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// GenerateStore makes the server hold, generated on demand, products simple
// products, customers customers, and orders completed orders of three lines
// each (each line's price a JSON number, as WooCommerce sends it).
func (s *Server) GenerateStore(products, customers, orders int) {
	gmt := SyntheticAt.Format(GMT)
	s.Generate("products", products, func(i int) Record {
		j := fmt.Sprintf(`{"id":%d,"name":"Product %d","type":"simple","status":"publish","sku":"S%d","price":"%d.95","regular_price":"%d.95",`+
			`"date_created_gmt":%q,"date_modified_gmt":%q,"categories":[{"id":%d,"name":"cat-%d","slug":"cat-%d"}]}`,
			i+1, i, i, i%500, i%500, gmt, gmt, i%20, i%20, i%20)
		return Record{ID: int64(i + 1), Modified: SyntheticAt, JSON: []byte(j)}
	})
	s.Generate("customers", customers, func(i int) Record {
		j := fmt.Sprintf(`{"id":%d,"email":"c%d@example.com","username":"c%d","date_created_gmt":%q,"date_modified_gmt":%q,`+
			`"billing":{"city":"City %d","postcode":"%05d","country":"US"}}`, i+1, i, i, gmt, gmt, i%1000, i%100000)
		return Record{ID: int64(i + 1), Modified: SyntheticAt, JSON: []byte(j)}
	})
	s.Generate("orders", orders, func(i int) Record {
		line := func(k int) string {
			p := (i*7+k)%max(products, 1) + 1
			return fmt.Sprintf(`{"id":%d,"product_id":%d,"variation_id":0,"quantity":%d,"sku":"S%d","price":%d.95,"subtotal":"1.00","total":"1.00"}`,
				3*i+k, p, k+1, p, p%500)
		}
		j := fmt.Sprintf(`{"id":%d,"status":"completed","currency":"USD","customer_id":%d,"total":"10.00","date_created_gmt":%q,"date_modified_gmt":%q,"line_items":[%s,%s,%s]}`,
			i+1, i%max(customers, 1), gmt, gmt, line(0), line(1), line(2))
		return Record{ID: int64(i + 1), Modified: SyntheticAt, Status: "completed", JSON: []byte(j)}
	})
}
