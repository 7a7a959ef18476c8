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
		lines := make([]OrderLine, len(c.Lines))
		for i, l := range c.Lines {
			lines[i] = OrderLine{ProductID: l.ProductID, Quantity: l.Quantity, Price: prices[l.ProductID].String()}
		}
		at := c.Date.UTC()
		out["orders"] = append(out["orders"], Order(c.ID, c.UserID, at, at, lines...))
	}
	return out, nil
}

// OrderLine is a line of Order: a product (and its one variant) of the
// store, how many, at what unit price (decimal text).
type OrderLine struct {
	ProductID, Quantity int64
	Price               string
}

// Order is an order node, paid, in the store's currency: its number, its
// customer (0 for a guest), when it was created and last updated, and its
// lines, each product's variant sharing its number as FromFakeStore's do.
func Order(id, customer int64, created, updated time.Time, lines ...OrderLine) Node {
	var total money.Amount
	items := make([]any, 0, len(lines))
	for i, l := range lines {
		price := money.MustParse(l.Price)
		total = total.Add(price.Mul(l.Quantity))
		items = append(items, map[string]any{
			"id": gid("LineItem", id*1000+int64(i)+1), "sku": fmt.Sprintf("FS-%d", l.ProductID), "quantity": l.Quantity,
			"product": map[string]any{"id": gid("Product", l.ProductID)}, "variant": map[string]any{"id": gid("ProductVariant", l.ProductID)},
			"originalUnitPriceSet": moneyBag(price),
		})
	}
	var owner any // a guest
	if customer != 0 {
		owner = map[string]any{"id": gid("Customer", customer)}
	}
	return node(gid("Order", id), updated, map[string]any{
		"name": fmt.Sprintf("#%d", 1000+id), "cancelledAt": nil, "currencyCode": Currency, "displayFinancialStatus": "PAID",
		"customer": owner, "totalPriceSet": moneyBag(total), "lineItems": map[string]any{"nodes": items},
		"createdAt": created.UTC().Format(time.RFC3339),
	})
}

// gid is a Shopify global id.
func gid(kind string, id int64) string { return fmt.Sprintf("gid://shopify/%s/%d", kind, id) }

func moneyBag(a money.Amount) map[string]any {
	return map[string]any{"shopMoney": map[string]any{"amount": a, "currencyCode": Currency}}
}

// node is a Node of fields, created (unless fields say when) and last
// updated at.
func node(id string, at time.Time, fields map[string]any) Node {
	fields["id"] = id
	if _, ok := fields["createdAt"]; !ok {
		fields["createdAt"] = at.Format(time.RFC3339)
	}
	fields["updatedAt"] = at.Format(time.RFC3339)
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err) // maps of strings, numbers and amounts always encode
	}
	return Node{ID: id, UpdatedAt: at, JSON: b}
}
