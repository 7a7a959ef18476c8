package model

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/shoplake/shoplake/shared/money"
)

// The canonical records: what every source adapter (FakeStore, Shopify,
// WooCommerce) yields, so that the lake, the warehouse and dbt need not know
// which store the data came from. Ids are the source's, as text (Shopify
// GIDs such as gid://shopify/Product/123, integers elsewhere); times are
// UTC; money is exact (money.Amount); what the model does not name is kept
// whole in Attributes.

// Origin says where a record came from: the adapter's kind (fakestore,
// shopify, woocommerce) and the store (its domain or base URL).
type Origin struct {
	Kind  string `json:"source_kind" validate:"oneof=fakestore shopify woocommerce"`
	Store string `json:"source_store" validate:"notblank,max=500"`
}

// Record is what every canonical record carries besides its content.
type Record struct {
	Origin
	SourceID  string    `json:"source_id" validate:"notblank,max=200"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// Deleted marks a record the source deleted: a tombstone.
	Deleted bool `json:"deleted"`
	// Attributes are the fields of the source's record the model does not
	// name, as the source sent them (a JSON object, or absent).
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// CanonicalProduct is a catalogue item with its variants (FakeStore's
// products have one, priced as the product).
type CanonicalProduct struct {
	Record
	Title    string    `json:"title" validate:"max=1000"`
	Category string    `json:"category" validate:"max=200"`
	Variants []Variant `json:"variants" validate:"dive"`
}

// Variant is one sellable form of a product.
type Variant struct {
	SourceID string       `json:"source_id" validate:"notblank,max=200"`
	SKU      string       `json:"sku" validate:"max=200"`
	Price    money.Amount `json:"price" validate:"price"`
}

// CanonicalCustomer is a customer; the e-mail address is replaced by its
// pseudonym before anything is written, as for User.
type CanonicalCustomer struct {
	Record
	Email     string `json:"email,omitempty" validate:"omitempty,email,max=320"`
	EmailHash string `json:"email_hash,omitempty" validate:"-"`
	// Guest marks a customer known only from an order (no account).
	Guest      bool   `json:"guest"`
	City       string `json:"city" validate:"max=200"`
	PostalCode string `json:"postal_code" validate:"max=20"`
	Country    string `json:"country" validate:"omitempty,iso3166_1_alpha2"`
}

// OrderKind says what an order is.
type OrderKind string

// The kinds of order.
const (
	// KindCart is a cart (FakeStore's carts).
	KindCart OrderKind = "cart"
	// KindAbandonedCheckout is a checkout the customer left.
	KindAbandonedCheckout OrderKind = "abandoned_checkout"
	// KindOrder is a placed order.
	KindOrder OrderKind = "order"
)

// CanonicalOrder is a cart, an abandoned checkout or an order, with its
// lines. Total is what the source says the order comes to, and each line's
// total is its quantity × unit price; where the source prices nothing (a
// FakeStore cart names products and quantities only) they are nil, and the
// warehouse prices the lines from the products as of the order's date.
type CanonicalOrder struct {
	Record
	Kind       OrderKind     `json:"kind" validate:"oneof=cart abandoned_checkout order"`
	Status     string        `json:"status" validate:"max=100"`
	Currency   string        `json:"currency" validate:"iso4217"`
	CustomerID string        `json:"customer_id" validate:"max=200"`
	Total      *money.Amount `json:"total,omitempty" validate:"omitnil,total"`
	Lines      []Line        `json:"lines" validate:"max=10000,dive"`
}

// Line is one line of an order.
type Line struct {
	SourceID  string        `json:"source_id" validate:"max=200"`
	ProductID string        `json:"product_id" validate:"max=200"`
	VariantID string        `json:"variant_id" validate:"max=200"`
	SKU       string        `json:"sku" validate:"max=200"`
	Quantity  int64         `json:"quantity" validate:"gte=0,lte=1000000"`
	UnitPrice *money.Amount `json:"unit_price,omitempty" validate:"omitnil,price"`
	Total     *money.Amount `json:"total,omitempty" validate:"omitnil,total"`
}

// Priced returns a line priced at unit: its total is quantity × unit.
func (l Line) Priced(unit money.Amount) Line {
	total := unit.Mul(l.Quantity)
	l.UnitPrice, l.Total = &unit, &total
	return l
}

// Revenue is the sum of the priced lines' totals, and how many lines are
// not priced.
func (o *CanonicalOrder) Revenue() (sum money.Amount, unpriced int) {
	for _, l := range o.Lines {
		if l.Total == nil {
			unpriced++
			continue
		}
		sum = sum.Add(*l.Total)
	}
	return sum, unpriced
}

// Attributes is the JSON object raw without the keys known (what the model
// names, or must never keep), for a record's Attributes; nil when nothing is
// left or raw is not an object.
func Attributes(raw json.RawMessage, known ...string) json.RawMessage {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	for _, k := range known {
		delete(m, k)
	}
	return AttributesOf(m)
}

// AttributesOf is the fields left of a record, already decoded by name, as
// one JSON object for its Attributes; nil when none is left.
func AttributesOf(fields map[string]json.RawMessage) json.RawMessage {
	if len(fields) == 0 {
		return nil
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return nil
	}
	return b
}

// The canonical raw tables, and lake entities, that a store's canonical
// records are snapshotted into (IngestBatch, for the store kinds other than
// FakeStore, whose raw listings keep their own tables).
const (
	CanonicalProducts  = "canonical_products"
	CanonicalCustomers = "canonical_customers"
	CanonicalOrders    = "canonical_orders"
)

// CanonicalEntities are the canonical snapshots, in the order IngestBatch
// writes them.
var CanonicalEntities = []string{CanonicalProducts, CanonicalCustomers, CanonicalOrders}

// Loadable reports whether entity names a daily snapshot LoadRawObject loads
// into the raw table of the same name: a batch entity or a canonical one.
func Loadable(entity string) bool {
	if _, ok := LookupBatchEntity(entity); ok {
		return true
	}
	return slices.Contains(CanonicalEntities, entity)
}
