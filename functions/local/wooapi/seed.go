package wooapi

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/money"
)

// FromFakeStore returns the FakeStore snapshot in WooCommerce's shapes, so
// a run on the stand-in holds the same data as one on the built-in
// FakeStore API: each product a simple product priced as the product (its
// price a string, as WooCommerce sends it), each user a customer with its
// e-mail address and billing city and postcode (no password), each cart a
// completed order of its lines, each line's price a JSON number (as
// WooCommerce sends it) and the order's total their sum.
func FromFakeStore() (map[string][]Record, error) {
	snap, err := storefront.DecodeSnapshot()
	if err != nil {
		return nil, err
	}
	products, users, carts := snap.Products, snap.Users, snap.Carts
	listed := time.Date(2019, 12, 1, 0, 0, 0, 0, time.UTC)
	out := map[string][]Record{}
	prices := map[int64]json.Number{}
	for _, p := range products {
		prices[p.ID] = p.Price
		out["products"] = append(out["products"], Product(p.ID, "publish", listed, p.Title, p.Category, p.Price.String()))
	}
	for _, u := range users {
		out["customers"] = append(out["customers"], record(u.ID, listed, "", map[string]any{
			"email": u.Email, "username": u.Username, "role": "customer",
			"billing": map[string]any{"city": u.Address.City, "postcode": u.Address.Zipcode, "country": ""},
		}))
	}
	for _, c := range carts {
		var total money.Amount
		lines := []any{}
		for i, l := range c.Lines {
			price, err := money.Parse(prices[l.ProductID].String())
			if err != nil {
				return nil, fmt.Errorf("product %d: %w", l.ProductID, err)
			}
			lineTotal := price.Mul(l.Quantity)
			total = total.Add(lineTotal)
			lines = append(lines, map[string]any{
				"id": c.ID*1000 + int64(i) + 1, "product_id": l.ProductID, "variation_id": 0, "quantity": l.Quantity,
				"sku": fmt.Sprintf("FS-%d", l.ProductID), "price": prices[l.ProductID], "subtotal": lineTotal.String(), "total": lineTotal.String(),
			})
		}
		out["orders"] = append(out["orders"], record(c.ID, c.Date.UTC(), "completed", map[string]any{
			"currency": "USD", "customer_id": c.UserID, "total": total.String(), "line_items": lines,
		}))
	}
	return out, nil
}

// record is a Record of fields, created and last modified at, with status
// (left out of the JSON when empty).
func record(id int64, at time.Time, status string, fields map[string]any) Record {
	fields["id"] = id
	fields["date_created_gmt"] = at.Format(GMT)
	fields["date_modified_gmt"] = at.Format(GMT)
	if status != "" {
		fields["status"] = status
	}
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err) // maps of strings and numbers always encode
	}
	return Record{ID: id, Modified: at, Status: status, JSON: b}
}

// Order returns an order record, for tests that change a store: its status,
// customer (0 for a guest), lines of (product, quantity, price text) and
// when it was last modified.
func Order(id, customer int64, status string, at time.Time, lines ...OrderLine) Record {
	var total money.Amount
	items := []any{}
	for i, l := range lines {
		lineTotal := money.MustParse(l.Price).Mul(l.Quantity)
		total = total.Add(lineTotal)
		items = append(items, map[string]any{"id": id*1000 + int64(i) + 1, "product_id": l.ProductID, "variation_id": 0,
			"quantity": l.Quantity, "sku": "", "price": json.Number(l.Price), "subtotal": lineTotal.String(), "total": lineTotal.String()})
	}
	return record(id, at, status, map[string]any{"currency": "USD", "customer_id": customer, "total": total.String(), "line_items": items})
}

// Product returns a simple product record, for tests that change a store:
// its status (publish, or trash), when it was last modified, its name,
// category and price text.
func Product(id int64, status string, at time.Time, name, category, price string) Record {
	return record(id, at, status, map[string]any{
		"name": name, "type": "simple", "sku": fmt.Sprintf("FS-%d", id), "price": price,
		"regular_price": price, "categories": []any{map[string]any{"id": 1, "name": category, "slug": category}},
	})
}

// OrderLine is a line of Order.
type OrderLine struct {
	ProductID, Quantity int64
	Price               string
}
