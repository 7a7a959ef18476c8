package shopify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/source"
)

// The queries the adapter sends, one named operation per connection. Each
// takes $first and $after (pages), $query (the updated_at filter of an
// incremental listing) and $sortKey. The stand-in in functions/local
// recognises them by name.
const (
	productsQuery = `query Products($first: Int!, $after: String, $query: String, $sortKey: ProductSortKeys) {
  products(first: $first, after: $after, query: $query, sortKey: $sortKey) {
    nodes {
      id title productType status createdAt updatedAt
      variants(first: 100) { nodes { id sku price } }
    }
    pageInfo { hasNextPage endCursor }
  }
}`
	customersQuery = `query Customers($first: Int!, $after: String, $query: String, $sortKey: CustomerSortKeys) {
  customers(first: $first, after: $after, query: $query, sortKey: $sortKey) {
    nodes {
      id createdAt updatedAt
      defaultEmailAddress { emailAddress }
      defaultAddress { city zip countryCodeV2 }
    }
    pageInfo { hasNextPage endCursor }
  }
}`
	ordersQuery = `query Orders($first: Int!, $after: String, $query: String, $sortKey: OrderSortKeys) {
  orders(first: $first, after: $after, query: $query, sortKey: $sortKey) {
    nodes {
      id name createdAt updatedAt cancelledAt currencyCode displayFinancialStatus
` + orderLines + `    }
    pageInfo { hasNextPage endCursor }
  }
}`
	checkoutsQuery = `query AbandonedCheckouts($first: Int!, $after: String, $query: String, $sortKey: AbandonedCheckoutSortKeys) {
  abandonedCheckouts(first: $first, after: $after, query: $query, sortKey: $sortKey) {
    nodes {
      id name createdAt updatedAt completedAt
` + orderLines + `    }
    pageInfo { hasNextPage endCursor }
  }
}`
	// orderLines is what orders and abandoned checkouts select alike.
	orderLines = `      customer { id }
      totalPriceSet { shopMoney { amount currencyCode } }
      lineItems(first: 100) {
        nodes {
          id sku quantity
          product { id }
          variant { id }
          originalUnitPriceSet { shopMoney { amount currencyCode } }
        }
      }
`
)

var _ source.Store = (*Client)(nil)

// listing is how to read one connection.
type listing struct {
	op, query, connection string
	// sortKey orders an incremental listing: UPDATED_AT where the
	// connection has it (abandoned checkouts do not: ID).
	sortKey string
}

var (
	productsListing  = listing{"Products", productsQuery, "products", "UPDATED_AT"}
	customersListing = listing{"Customers", customersQuery, "customers", "UPDATED_AT"}
	ordersListing    = listing{"Orders", ordersQuery, "orders", "UPDATED_AT"}
	checkoutsListing = listing{"AbandonedCheckouts", checkoutsQuery, "abandonedCheckouts", "ID"}
)

// each lists the nodes of l, all of them, or when since is set only those
// updated after it (the updated_at filter, sorted for a stable order).
func (c *Client) each(ctx context.Context, l listing, since time.Time, fn func(json.RawMessage) error) error {
	vars := map[string]any{}
	if !since.IsZero() {
		vars["query"] = fmt.Sprintf("updated_at:>'%s'", since.UTC().Format(time.RFC3339))
		vars["sortKey"] = l.sortKey
	}
	return c.Each(ctx, l.op, l.query, l.connection, vars, fn)
}

// Origin is the store as canonical records name it.
func (c *Client) Origin() model.Origin {
	return model.Origin{Kind: "shopify", Store: cmp.Or(c.cfg.Store, c.cfg.BaseURL)}
}

// Products lists the store's products as canonical records, each with its
// variants; since, when set, lists only those updated after it. fn gets each
// record, or for a node that cannot be read a *DecodeError instead (to
// quarantine; the listing reads on unless fn returns an error).
func (c *Client) Products(ctx context.Context, since time.Time, fn func(*model.CanonicalProduct, error) error) error {
	return c.each(ctx, productsListing, since, func(raw json.RawMessage) error { return fn(c.product(raw)) })
}

// Customers lists the store's customers as canonical records, as Products
// does.
func (c *Client) Customers(ctx context.Context, since time.Time, fn func(*model.CanonicalCustomer, error) error) error {
	return c.each(ctx, customersListing, since, func(raw json.RawMessage) error { return fn(c.customer(raw)) })
}

// Orders lists the store's orders, then its abandoned checkouts, as
// canonical orders of kind order and abandoned_checkout, as Products does.
func (c *Client) Orders(ctx context.Context, since time.Time, fn func(*model.CanonicalOrder, error) error) error {
	for _, l := range []listing{ordersListing, checkoutsListing} {
		err := c.each(ctx, l, since, func(raw json.RawMessage) error { return fn(c.order(raw, l)) })
		if err != nil {
			return err
		}
	}
	return nil
}

// DecodeError reports a node that does not have the shape the query asked
// for; the caller quarantines it and reads on.
type DecodeError struct {
	Connection, ID string
	Err            error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v: shopify %s node %q: %v", model.ErrInvalid, e.Connection, e.ID, e.Err)
}

func (e *DecodeError) Unwrap() error { return model.ErrInvalid }

// nodeID reads a node's id for errors.
func nodeID(raw json.RawMessage) string {
	var n struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &n)
	return n.ID
}

type ref struct {
	ID string `json:"id"`
}

type moneyBag struct {
	ShopMoney struct {
		Amount       money.Amount `json:"amount"`
		CurrencyCode string       `json:"currencyCode"`
	} `json:"shopMoney"`
}

// fields decodes a node's top-level fields, each kept as its JSON: one pass
// over the node, after which each known field is decoded from its own bytes
// and the others are the record's attributes.
type fields map[string]json.RawMessage

// take decodes the field name into v, if present and not null, and removes
// it from f.
func (f fields) take(name string, v any) error {
	raw, ok := f[name]
	delete(f, name)
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// record decodes a node's fields and what every record has from them; the
// caller takes its own fields from f, and model.AttributesOf(f) keeps the rest.
func (c *Client) record(raw json.RawMessage) (model.Record, fields, error) {
	var f fields
	if err := json.Unmarshal(raw, &f); err != nil {
		return model.Record{}, nil, err
	}
	r := model.Record{Origin: c.Origin()}
	err := errors.Join(f.take("id", &r.SourceID), f.take("createdAt", &r.CreatedAt), f.take("updatedAt", &r.UpdatedAt))
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, f, err
}

func (c *Client) product(raw json.RawMessage) (*model.CanonicalProduct, error) {
	rec, f, err := c.record(raw)
	p := &model.CanonicalProduct{Record: rec}
	var variants struct {
		Nodes []struct {
			ID    string       `json:"id"`
			SKU   string       `json:"sku"`
			Price money.Amount `json:"price"`
		} `json:"nodes"`
	}
	if err == nil {
		err = errors.Join(f.take("title", &p.Title), f.take("productType", &p.Category), f.take("variants", &variants))
	}
	if err != nil {
		return nil, &DecodeError{Connection: "products", ID: nodeID(raw), Err: err}
	}
	for _, v := range variants.Nodes {
		p.Variants = append(p.Variants, model.Variant{SourceID: v.ID, SKU: v.SKU, Price: v.Price})
	}
	delete(f, "variantsCount") // the bulk export's count of the variant lines to come, not an attribute
	p.Attributes = model.AttributesOf(f)
	return p, nil
}

func (c *Client) customer(raw json.RawMessage) (*model.CanonicalCustomer, error) {
	rec, f, err := c.record(raw)
	var email struct {
		EmailAddress string `json:"emailAddress"`
	}
	var address struct {
		City    string `json:"city"`
		Zip     string `json:"zip"`
		Country string `json:"countryCodeV2"`
	}
	if err == nil {
		err = errors.Join(f.take("defaultEmailAddress", &email), f.take("defaultAddress", &address))
	}
	if err != nil {
		return nil, &DecodeError{Connection: "customers", ID: nodeID(raw), Err: err}
	}
	rec.Attributes = model.AttributesOf(f)
	return &model.CanonicalCustomer{Record: rec, Email: email.EmailAddress, City: address.City, PostalCode: address.Zip, Country: address.Country}, nil
}

// lineItem is an order's or a checkout's line as the queries select it.
type lineItem struct {
	ID        string   `json:"id"`
	SKU       string   `json:"sku"`
	Quantity  int64    `json:"quantity"`
	Product   *ref     `json:"product"`
	Variant   *ref     `json:"variant"`
	UnitPrice moneyBag `json:"originalUnitPriceSet"`
}

func (c *Client) order(raw json.RawMessage, l listing) (*model.CanonicalOrder, error) {
	rec, f, err := c.record(raw)
	var (
		cancelledAt, completedAt *time.Time
		currency, financial      string
		customer                 ref
		total                    moneyBag
		lines                    struct {
			Nodes []lineItem `json:"nodes"`
		}
	)
	if err == nil {
		err = errors.Join(f.take("cancelledAt", &cancelledAt), f.take("completedAt", &completedAt),
			f.take("currencyCode", &currency), f.take("displayFinancialStatus", &financial),
			f.take("customer", &customer), f.take("totalPriceSet", &total), f.take("lineItems", &lines))
	}
	if err != nil {
		return nil, &DecodeError{Connection: l.connection, ID: nodeID(raw), Err: err}
	}
	rec.Attributes = model.AttributesOf(f)
	o := &model.CanonicalOrder{Record: rec, Kind: model.KindOrder, Status: financial, Currency: currency,
		CustomerID: customer.ID, Total: &total.ShopMoney.Amount}
	if l.connection == checkoutsListing.connection {
		o.Kind, o.Status, o.Currency = model.KindAbandonedCheckout, "abandoned", total.ShopMoney.CurrencyCode
		if completedAt != nil {
			o.Status = "completed"
		}
	}
	if cancelledAt != nil {
		o.Status = "cancelled"
	}
	o.Lines = make([]model.Line, 0, len(lines.Nodes))
	for _, li := range lines.Nodes {
		line := model.Line{SourceID: li.ID, SKU: li.SKU, Quantity: li.Quantity}
		if li.Product != nil {
			line.ProductID = li.Product.ID
		}
		if li.Variant != nil {
			line.VariantID = li.Variant.ID
		}
		o.Lines = append(o.Lines, line.Priced(li.UnitPrice.ShopMoney.Amount))
	}
	return o, nil
}
