package model

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/money"
)

func TestCanonicalRules(t *testing.T) {
	t.Parallel()
	rec := Record{Origin: Origin{Kind: "shopify", Store: "https://x.myshopify.com"}, SourceID: "gid://shopify/Order/1",
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	line := Line{SourceID: "1", ProductID: "gid://shopify/Product/1", Quantity: 2}.Priced(money.MustParse("9.99"))
	order := func(edit func(*CanonicalOrder)) *CanonicalOrder {
		o := &CanonicalOrder{Record: rec, Kind: KindOrder, Currency: "EUR", Lines: []Line{line}}
		edit(o)
		return o
	}
	cases := []struct {
		name string
		v    any
		want string // "" means valid
	}{
		{name: "order", v: order(func(*CanonicalOrder) {})},
		{name: "unpriced cart line", v: order(func(o *CanonicalOrder) { o.Kind, o.Lines = KindCart, []Line{{ProductID: "1", Quantity: 3}} })},
		{name: "negative price", v: order(func(o *CanonicalOrder) { o.Lines[0] = line.Priced(money.MustParse("-1")) }), want: "lines[0].unit_price fails price"},
		{name: "price over a billion", v: order(func(o *CanonicalOrder) { o.Lines[0] = line.Priced(money.MustParse("1000000000.01")) }), want: "unit_price fails price"},
		{name: "quantity over a million", v: order(func(o *CanonicalOrder) { o.Lines[0].Quantity = 1_000_001 }), want: "lines[0].quantity fails lte=1000000"},
		{name: "currency in lower case", v: order(func(o *CanonicalOrder) { o.Currency = "eur" }), want: "currency fails iso4217"},
		{name: "unknown kind", v: order(func(o *CanonicalOrder) { o.Kind = "wishlist" }), want: "kind fails oneof"},
		{name: "no source id", v: order(func(o *CanonicalOrder) { o.SourceID = " " }), want: "source_id fails notblank"},
		{name: "unknown source", v: order(func(o *CanonicalOrder) { o.Origin.Kind = "magento" }), want: "source_kind fails oneof"},
		{name: "variant without id", v: &CanonicalProduct{Record: rec, Variants: []Variant{{Price: money.MustParse("1")}}}, want: "variants[0].source_id fails notblank"},
		{name: "customer country", v: &CanonicalCustomer{Record: rec, Country: "USA"}, want: "country fails iso3166_1_alpha2"},
	}
	for _, tc := range cases {
		err := Validate(tc.v)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
