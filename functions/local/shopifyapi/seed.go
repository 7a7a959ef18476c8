package shopifyapi

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/money"
)

// Currency is the currency of the seeded store.
const Currency = "USD"

// FromFakeStore returns the FakeStore snapshot mapped to Shopify's shapes,
// so a run on the stand-in holds the same data as one on the built-in
// FakeStore API: each product with one variant priced as the product (the
// price's text kept exactly), each user a customer with its e-mail address
// and city (no password: Shopify has none to give), each cart an order of
// its lines, each priced at its product's price, dated the cart's date.
func FromFakeStore() (Connections, error) {
	snap, err := storefront.DecodeSnapshot()
	if err != nil {
		return nil, err
	}
	products, users, carts := snap.Products, snap.Users, snap.Carts
	// The catalogue was listed before any cart was made.
	listed := time.Date(2019, 12, 1, 0, 0, 0, 0, time.UTC)
	out := Connections{}
	prices := map[int64]money.Amount{}
	for _, p := range products {
		price, err := money.Parse(p.Price.String())
		if err != nil {
			return nil, fmt.Errorf("product %d: %w", p.ID, err)
		}
		prices[p.ID] = price
		out["products"] = append(out["products"], node(gid("Product", p.ID), listed, map[string]any{
			"title": p.Title, "productType": p.Category, "status": "ACTIVE",
			"variants": map[string]any{"nodes": []any{map[string]any{
				"id": gid("ProductVariant", p.ID), "sku": fmt.Sprintf("FS-%d", p.ID), "price": price}}},
		}))
	}
	for _, u := range users {
		out["customers"] = append(out["customers"], node(gid("Customer", u.ID), listed, map[string]any{
			"defaultEmailAddress": map[string]any{"emailAddress": u.Email},
			"defaultAddress":      map[string]any{"city": u.Address.City, "zip": u.Address.Zipcode, "countryCodeV2": nil},
		}))
	}
	for _, c := range carts {
		var total money.Amount
		lines := make([]any, 0, len(c.Lines))
		for i, l := range c.Lines {
			price := prices[l.ProductID]
			total = total.Add(price.Mul(l.Quantity))
			lines = append(lines, map[string]any{
				"id": gid("LineItem", c.ID*1000+int64(i)+1), "sku": fmt.Sprintf("FS-%d", l.ProductID), "quantity": l.Quantity,
				"product": map[string]any{"id": gid("Product", l.ProductID)}, "variant": map[string]any{"id": gid("ProductVariant", l.ProductID)},
				"originalUnitPriceSet": moneyBag(price),
			})
		}
		at := c.Date.UTC()
		out["orders"] = append(out["orders"], node(gid("Order", c.ID), at, map[string]any{
			"name": fmt.Sprintf("#%d", 1000+c.ID), "cancelledAt": nil, "currencyCode": Currency, "displayFinancialStatus": "PAID",
			"customer": map[string]any{"id": gid("Customer", c.UserID)}, "totalPriceSet": moneyBag(total),
			"lineItems": map[string]any{"nodes": lines},
		}))
	}
	return out, nil
}

// gid is a Shopify global id.
func gid(kind string, id int64) string { return fmt.Sprintf("gid://shopify/%s/%d", kind, id) }

func moneyBag(a money.Amount) map[string]any {
	return map[string]any{"shopMoney": map[string]any{"amount": a, "currencyCode": Currency}}
}

// node is a Node of fields, created and last updated at.
func node(id string, at time.Time, fields map[string]any) Node {
	fields["id"] = id
	fields["createdAt"] = at.Format(time.RFC3339)
	fields["updatedAt"] = at.Format(time.RFC3339)
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err) // maps of strings, numbers and amounts always encode
	}
	return Node{ID: id, UpdatedAt: at, JSON: b}
}
