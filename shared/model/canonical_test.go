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

func TestOrderEvents(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	order := func() *CanonicalOrder {
		return &CanonicalOrder{
			Record: Record{Origin: Origin{Kind: "shopify", Store: "x.myshopify.com"}, SourceID: "gid://shopify/Order/7", UpdatedAt: at},
			Kind:   KindOrder, Currency: "USD",
			Lines: []Line{Line{ProductID: "gid://shopify/Product/1", Quantity: 2}.Priced(money.MustParse("0.10"))},
		}
	}
	event := func(edit func(o *CanonicalOrder, ev *CartEvent)) CartEvent {
		o := order()
		ev, err := NewOrderEvent(o, at, at)
		if err != nil {
			t.Fatal(err)
		}
		edit(o, &ev)
		return ev
	}
	date := at
	cases := []struct {
		name string
		ev   CartEvent
		want string // "" means valid
	}{
		{name: "order", ev: event(func(*CanonicalOrder, *CartEvent) {})},
		{name: "deleted order", ev: func() CartEvent {
			o := order()
			o.Deleted = true
			ev, _ := NewOrderEvent(o, at, at)
			return ev
		}()},
		{name: "no order", ev: event(func(_ *CanonicalOrder, ev *CartEvent) { ev.StoreOrder = nil }), want: "store_order fails required_with_order"},
		{name: "type disagrees with the mark", ev: event(func(o *CanonicalOrder, _ *CartEvent) { o.Deleted = true }), want: "fails eq_event_type"},
		{name: "a cart id too", ev: event(func(_ *CanonicalOrder, ev *CartEvent) { ev.CartID = 3 }), want: "cart_id fails excluded_with_order"},
		{name: "a cart date too", ev: event(func(_ *CanonicalOrder, ev *CartEvent) { ev.CartDate = &date }), want: "excluded_with_order"},
		{name: "invalid order", ev: event(func(o *CanonicalOrder, _ *CartEvent) { o.Currency = "usd" }), want: "store_order.currency fails iso4217"},
		{name: "cart event with an order", ev: event(func(_ *CanonicalOrder, ev *CartEvent) {
			ev.EventType, ev.CartID, ev.UserID, ev.CartDate = EventCartUpserted, 3, 1, &date
		}), want: "store_order fails excluded_with_cart"},
		{name: "cart event without a cart", ev: CartEvent{EventID: strings.Repeat("a", 64), EventType: EventCartDeleted, Fingerprint: strings.Repeat("b", 16), ExtractedAt: at, PublishedAt: at},
			want: "cart_id fails gt=0"},
	}
	for _, tc := range cases {
		err := Validate(&tc.ev)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}

	// The same version read again has the same id; another version (a
	// quantity, an update time), another store or kind has another.
	base := event(func(*CanonicalOrder, *CartEvent) {}).EventID
	if again := event(func(*CanonicalOrder, *CartEvent) {}).EventID; again != base {
		t.Errorf("the same order read twice: ids %s and %s", base, again)
	}
	for name, edit := range map[string]func(*CanonicalOrder){
		"quantity":   func(o *CanonicalOrder) { o.Lines[0].Quantity = 3 },
		"updated_at": func(o *CanonicalOrder) { o.UpdatedAt = at.Add(time.Second) },
		"store":      func(o *CanonicalOrder) { o.Store = "y.myshopify.com" },
		"kind":       func(o *CanonicalOrder) { o.Kind = KindAbandonedCheckout },
	} {
		o := order()
		edit(o)
		ev, err := NewOrderEvent(o, at, at)
		if err != nil {
			t.Fatal(err)
		}
		if ev.EventID == base {
			t.Errorf("another %s, the same event id", name)
		}
	}
}
