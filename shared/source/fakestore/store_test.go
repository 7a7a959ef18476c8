package fakestore

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/functions/local/wooapi"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/source/shopify"
	"github.com/shoplake/shoplake/shared/source/woocommerce"
)

// view is what a store's records mean, whatever the store: ids as the
// number they end in, prices exact, each order's lines priced from the
// products where the source did not price them.
type view struct {
	Products  []string
	Customers []string
	Orders    []string
	Revenue   string
	Unpriced  int
}

// number is the number an id ends in: "7", or gid://shopify/Product/7.
func number(id string) string { return id[strings.LastIndexByte(id, '/')+1:] }

// read lists a store whole and returns what it means.
func read(t *testing.T, s source.Store) view {
	t.Helper()
	ctx := context.Background()
	var v view
	prices := map[string]money.Amount{}
	check := func(r any, err error) {
		t.Helper()
		if err == nil {
			err = model.Validate(r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.Products(ctx, time.Time{}, func(p *model.CanonicalProduct, err error) error {
		check(p, err)
		prices[number(p.SourceID)] = p.Variants[0].Price
		v.Products = append(v.Products, fmt.Sprintf("%s %q %s %s", number(p.SourceID), p.Title, p.Category, p.Variants[0].Price))
		return nil
	})
	if err == nil {
		err = s.Customers(ctx, time.Time{}, func(c *model.CanonicalCustomer, err error) error {
			check(c, err)
			v.Customers = append(v.Customers, fmt.Sprintf("%s %s %s %s", number(c.SourceID), c.Email, c.City, c.PostalCode))
			return nil
		})
	}
	var revenue money.Amount
	if err == nil {
		err = s.Orders(ctx, time.Time{}, func(o *model.CanonicalOrder, err error) error {
			check(o, err)
			lines := []string{}
			for _, l := range o.Lines {
				if l.Total == nil {
					v.Unpriced++
					l = l.Priced(prices[number(l.ProductID)])
				}
				revenue = revenue.Add(*l.Total)
				lines = append(lines, fmt.Sprintf("%s×%d", number(l.ProductID), l.Quantity))
			}
			v.Orders = append(v.Orders, fmt.Sprintf("%s by %s on %s: %s", number(o.SourceID), number(o.CustomerID),
				o.CreatedAt.Format(time.DateOnly), strings.Join(lines, " ")))
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(v.Products)
	slices.Sort(v.Customers)
	slices.Sort(v.Orders)
	v.Revenue = revenue.String()
	return v
}

// TestFixturesMeanTheSameThroughEveryAdapter: the FakeStore snapshot read
// from the built-in FakeStore API through this adapter, and from the Shopify
// stand-in (the same data in Shopify's shapes) through the Shopify adapter,
// and from the WooCommerce stand-in through the WooCommerce adapter, are the
// same products, customers and orders, with revenue of exactly 4,691.27 (the
// fixtures' marts); FakeStore's 14 cart lines come unpriced and are priced
// from the products, Shopify's and WooCommerce's come priced.
func TestFixturesMeanTheSameThroughEveryAdapter(t *testing.T) {
	t.Parallel()
	fs := httptest.NewServer(storefront.NewServer(storefront.Fixtures()))
	t.Cleanup(fs.Close)
	client, err := source.New(source.Config{BaseURL: fs.URL, RequestsPerSecond: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFakeStore := read(t, New(Config{Store: fs.URL}, client))

	data, err := shopifyapi.FromFakeStore()
	if err != nil {
		t.Fatal(err)
	}
	sh := httptest.NewServer(shopifyapi.NewServer(shopifyapi.Config{Token: "shpat_test"}, data))
	t.Cleanup(sh.Close)
	shop, err := shopify.New(shopify.Config{BaseURL: sh.URL, APIVersion: "2025-07", AccessToken: "shpat_test", TokenName: "SHOPIFY_ACCESS_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	fromShopify := read(t, shop)

	if fromFakeStore.Revenue != "4691.27" || fromFakeStore.Unpriced != 14 || len(fromFakeStore.Products) != 20 ||
		len(fromFakeStore.Customers) != 10 || len(fromFakeStore.Orders) != 7 {
		t.Errorf("FakeStore: %d products, %d customers, %d orders, revenue %s with %d lines priced from the products",
			len(fromFakeStore.Products), len(fromFakeStore.Customers), len(fromFakeStore.Orders), fromFakeStore.Revenue, fromFakeStore.Unpriced)
	}
	if fromShopify.Unpriced != 0 {
		t.Errorf("Shopify: %d lines unpriced, want every line priced by the store", fromShopify.Unpriced)
	}
	fromShopify.Unpriced = fromFakeStore.Unpriced
	if diff := cmp.Diff(fromFakeStore, fromShopify); diff != "" {
		t.Errorf("the adapters read different stores (-FakeStore +Shopify):\n%s", diff)
	}

	wooData, err := wooapi.FromFakeStore()
	if err != nil {
		t.Fatal(err)
	}
	wc := httptest.NewServer(wooapi.NewServer(wooapi.Config{ConsumerKey: "ck", ConsumerSecret: "cs"}, wooData))
	t.Cleanup(wc.Close)
	woo, err := woocommerce.New(woocommerce.Config{BaseURL: wc.URL, ConsumerKey: "ck", ConsumerSecret: "cs", CredentialsName: "WOOCOMMERCE_CREDENTIALS",
		HTTP: source.Config{RequestsPerSecond: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	fromWoo := read(t, woo)
	if fromWoo.Unpriced != 0 {
		t.Errorf("WooCommerce: %d lines unpriced, want every line priced by the store", fromWoo.Unpriced)
	}
	fromWoo.Unpriced = fromFakeStore.Unpriced
	if diff := cmp.Diff(fromFakeStore, fromWoo); diff != "" {
		t.Errorf("the adapters read different stores (-FakeStore +WooCommerce):\n%s", diff)
	}
}

// TestNoPasswordPasses: a user's plaintext password is in no customer, no
// attribute and no error.
func TestNoPasswordPasses(t *testing.T) {
	t.Parallel()
	body := `[{"id":1,"email":"a@example.com","username":"a","password":"m38rmF$","address":{"city":"x","zipcode":"1"}},` +
		`{"id":"two","password":"83r5^_"}]`
	fs := httptest.NewServer(storefront.NewServer(storefront.Raw(map[string]string{"users": body})))
	t.Cleanup(fs.Close)
	client, err := source.New(source.Config{BaseURL: fs.URL, RequestsPerSecond: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	err = New(Config{Store: fs.URL}, client).Customers(context.Background(), time.Time{}, func(c *model.CanonicalCustomer, err error) error {
		seen = append(seen, fmt.Sprintf("%+v %v", c, err))
		return nil
	})
	if err != nil || len(seen) != 2 {
		t.Fatalf("%v, %v", seen, err)
	}
	for _, s := range seen {
		if strings.Contains(s, "m38rmF$") || strings.Contains(s, "83r5^_") {
			t.Errorf("a password passed: %s", s)
		}
	}
	if !strings.Contains(seen[1], "invalid record") {
		t.Errorf("the unreadable user: %s", seen[1])
	}
}
