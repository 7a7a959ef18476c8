package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
)

// fixtureStore serves the FakeStore snapshot mapped to Shopify's shapes.
func fixtureStore(t *testing.T) (*Client, *shopifyapi.Server) {
	t.Helper()
	data, err := shopifyapi.FromFakeStore()
	if err != nil {
		t.Fatal(err)
	}
	api := shopifyapi.NewServer(shopifyapi.Config{Token: "shpat_test"}, data)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, APIVersion: "2025-07", AccessToken: "shpat_test", TokenName: "SHOPIFY_ACCESS_TOKEN", PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	return c, api
}

// collect lists every record of a listing, validated; a node that cannot be
// read fails the test.
func collect[T any](t *testing.T, list func(context.Context, time.Time, func(*T, error) error) error, since time.Time) []*T {
	t.Helper()
	var out []*T
	err := list(context.Background(), since, func(r *T, err error) error {
		if err != nil {
			return err
		}
		if err := model.Validate(r); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFixturesThroughShopify: the FakeStore snapshot read through the
// Shopify adapter holds what a FakeStore run holds: 20 products, 10
// customers, 7 orders of 14 lines, and revenue of exactly 4,691.27 (the
// fixtures' marts).
func TestFixturesThroughShopify(t *testing.T) {
	t.Parallel()
	c, api := fixtureStore(t)
	products := collect(t, c.Products, time.Time{})
	customers := collect(t, c.Customers, time.Time{})
	orders := collect(t, c.Orders, time.Time{})
	if len(products) != 20 || len(customers) != 10 || len(orders) != 7 {
		t.Fatalf("%d products, %d customers, %d orders; want 20, 10, 7", len(products), len(customers), len(orders))
	}
	if p := products[0]; p.SourceID != "gid://shopify/Product/1" || p.Kind != "shopify" || p.Category != "men's clothing" ||
		len(p.Variants) != 1 || p.Variants[0].Price.String() != "109.95" || p.Variants[0].SKU != "FS-1" {
		t.Errorf("first product %+v", p)
	}
	if cu := customers[0]; cu.SourceID != "gid://shopify/Customer/1" || cu.Email != "john@gmail.com" || cu.City != "kilcoole" {
		t.Errorf("first customer %+v", cu)
	}
	var revenue money.Amount
	lines := 0
	for _, o := range orders {
		sum, unpriced := o.Revenue()
		if o.Kind != model.KindOrder || o.Currency != "USD" || o.Total == nil || o.Total.Cmp(sum) != 0 || unpriced != 0 {
			t.Errorf("order %s: kind %s, currency %s, total %v, lines sum to %s (%d unpriced)", o.SourceID, o.Kind, o.Currency, o.Total, sum, unpriced)
		}
		revenue = revenue.Add(sum)
		lines += len(o.Lines)
	}
	if lines != 14 || revenue.String() != "4691.27" {
		t.Errorf("%d lines, revenue %s; want 14 and exactly 4691.27", lines, revenue)
	}
	// Pages of 3: 7 + 4 + 3 listings, and one for the (empty) checkouts.
	if s := api.Stats(); s.Requests != 15 || s.Throttled != 0 {
		t.Errorf("stand-in stats %+v, want 15 requests, none throttled", s)
	}
}

// TestMoneyIsExact: lines of 0.10 and 0.20 sum to exactly 0.30.
func TestMoneyIsExact(t *testing.T) {
	t.Parallel()
	c, api := fixtureStore(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	api.Upsert("orders", shopifyapi.Node{ID: "gid://shopify/Order/99", UpdatedAt: at, JSON: json.RawMessage(`{
		"id":"gid://shopify/Order/99","createdAt":"2026-12-01T10:00:00Z","updatedAt":"2026-12-01T10:00:00Z",
		"currencyCode":"EUR","displayFinancialStatus":"PAID","customer":null,"giftCard":true,
		"totalPriceSet":{"shopMoney":{"amount":"0.30","currencyCode":"EUR"}},
		"lineItems":{"nodes":[
			{"id":"gid://shopify/LineItem/1","sku":"A","quantity":1,"product":{"id":"gid://shopify/Product/1"},"variant":null,"originalUnitPriceSet":{"shopMoney":{"amount":"0.10","currencyCode":"EUR"}}},
			{"id":"gid://shopify/LineItem/2","sku":"B","quantity":1,"product":null,"variant":null,"originalUnitPriceSet":{"shopMoney":{"amount":"0.20","currencyCode":"EUR"}}}]}}`)})
	orders := collect(t, c.Orders, at.Add(-time.Minute))
	if len(orders) != 1 {
		t.Fatalf("%d orders updated since, want 1", len(orders))
	}
	o := orders[0]
	if sum, _ := o.Revenue(); sum.Cmp(money.MustParse("0.3")) != 0 || o.Total.String() != "0.3" || o.Currency != "EUR" || o.CustomerID != "" {
		t.Errorf("order %+v: revenue %s, want exactly 0.3 from a guest", o, sum)
	}
	if string(o.Attributes) != `{"giftCard":true}` {
		t.Errorf("attributes %s, want the field the model does not name kept", o.Attributes)
	}
}

// TestAbandonedCheckoutsAreOrders: a checkout comes as an order of kind
// abandoned_checkout, after the orders.
func TestAbandonedCheckoutsAreOrders(t *testing.T) {
	t.Parallel()
	c, api := fixtureStore(t)
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	api.Upsert("abandonedCheckouts", shopifyapi.Node{ID: "gid://shopify/AbandonedCheckout/5", UpdatedAt: at, JSON: json.RawMessage(`{
		"id":"gid://shopify/AbandonedCheckout/5","createdAt":"2026-12-02T09:00:00Z","updatedAt":"2026-12-02T09:00:00Z","completedAt":null,
		"customer":{"id":"gid://shopify/Customer/3"},"totalPriceSet":{"shopMoney":{"amount":"22.3","currencyCode":"USD"}},
		"lineItems":{"nodes":[{"id":"gid://shopify/AbandonedCheckoutLineItem/1","sku":"FS-2","quantity":1,"product":{"id":"gid://shopify/Product/2"},"variant":{"id":"gid://shopify/ProductVariant/2"},"originalUnitPriceSet":{"shopMoney":{"amount":"22.3","currencyCode":"USD"}}}]}}`)})
	orders := collect(t, c.Orders, time.Time{})
	last := orders[len(orders)-1]
	if sum, _ := last.Revenue(); len(orders) != 8 || last.Kind != model.KindAbandonedCheckout || last.Status != "abandoned" || last.CustomerID != "gid://shopify/Customer/3" || sum.String() != "22.3" {
		t.Errorf("%d orders, last %+v", len(orders), last)
	}
}

// TestUnreadableNodeIsReportedAndTheListingReadsOn: a variant priced "abc"
// is an invalid record named by its id; the other products still come.
func TestUnreadableNodeIsReportedAndTheListingReadsOn(t *testing.T) {
	t.Parallel()
	c, api := fixtureStore(t)
	api.Upsert("products", shopifyapi.Node{ID: "gid://shopify/Product/7", UpdatedAt: time.Now(), JSON: json.RawMessage(
		`{"id":"gid://shopify/Product/7","title":"x","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","variants":{"nodes":[{"id":"v","sku":"s","price":"abc"}]}}`)})
	var good int
	var bad []error
	err := c.Products(context.Background(), time.Time{}, func(p *model.CanonicalProduct, err error) error {
		if err != nil {
			bad = append(bad, err)
			return nil
		}
		good++
		return nil
	})
	if err != nil || good != 19 || len(bad) != 1 || !errors.Is(bad[0], model.ErrInvalid) ||
		!strings.Contains(bad[0].Error(), `shopify products node "gid://shopify/Product/7"`) {
		t.Errorf("listing error %v, %d good, bad %v", err, good, bad)
	}
}
