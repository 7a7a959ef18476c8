package shopify

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-json-experiment/json/jsontext"

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
func nodeID(raw []byte) string {
	var n struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &n) // encoding/json: it reads on past what Decode refused
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

// node is what every node has; the fields a node's struct does not name
// are collected in Unknown, the record's attributes.
type node struct {
	ID        string         `json:"id"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
	Unknown   jsontext.Value `json:",unknown"`
}

// record is what n says of every record.
func (c *Client) record(n *node) model.Record {
	return model.Record{Origin: c.Origin(), SourceID: n.ID, CreatedAt: n.CreatedAt.UTC(), UpdatedAt: n.UpdatedAt.UTC(),
		Attributes: source.Attributes(n.Unknown)}
}

// productNode is a product as the paged query and the bulk export select it.
type productNode struct {
	node
	Title       string `json:"title"`
	ProductType string `json:"productType"`
	Variants    struct {
		Nodes []struct {
			ID    string       `json:"id"`
			SKU   string       `json:"sku"`
			Price money.Amount `json:"price"`
		} `json:"nodes"`
	} `json:"variants"`
	// VariantsCount is the bulk export's count of the variant lines to
	// come, not an attribute.
	VariantsCount *struct {
		Count int `json:"count"`
	} `json:"variantsCount"`
}

func (c *Client) product(raw []byte) (*model.CanonicalProduct, error) {
	var n productNode
	if err := source.Decode(raw, &n); err != nil {
		return nil, &DecodeError{Connection: "products", ID: nodeID(raw), Err: err}
	}
	return c.canonicalProduct(&n), nil
}

func (c *Client) canonicalProduct(n *productNode) *model.CanonicalProduct {
	p := &model.CanonicalProduct{Record: c.record(&n.node), Title: n.Title, Category: n.ProductType}
	for _, v := range n.Variants.Nodes {
		p.Variants = append(p.Variants, model.Variant{SourceID: v.ID, SKU: v.SKU, Price: v.Price})
	}
	return p
}

func (c *Client) customer(raw []byte) (*model.CanonicalCustomer, error) {
	var n struct {
		node
		Email struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"defaultEmailAddress"`
		Address struct {
			City    string `json:"city"`
			Zip     string `json:"zip"`
			Country string `json:"countryCodeV2"`
		} `json:"defaultAddress"`
	}
	if err := source.Decode(raw, &n); err != nil {
		return nil, &DecodeError{Connection: "customers", ID: nodeID(raw), Err: err}
	}
	return &model.CanonicalCustomer{Record: c.record(&n.node), Email: n.Email.EmailAddress,
		City: n.Address.City, PostalCode: n.Address.Zip, Country: n.Address.Country}, nil
}

// lineItem is an order's or a checkout's line as the queries select it.
type lineItem struct {
	ID        string   `json:"id"`
	SKU       string   `json:"sku"`
	Quantity  int64    `json:"quantity"`
	Product   ref      `json:"product"` // null for a product since deleted
	Variant   ref      `json:"variant"`
	UnitPrice moneyBag `json:"originalUnitPriceSet"`
}

func (c *Client) order(raw []byte, l listing) (*model.CanonicalOrder, error) {
	var n struct {
		node
		CancelledAt *time.Time `json:"cancelledAt"`
		CompletedAt *time.Time `json:"completedAt"`
		Currency    string     `json:"currencyCode"`
		Financial   string     `json:"displayFinancialStatus"`
		Customer    ref        `json:"customer"`
		Total       moneyBag   `json:"totalPriceSet"`
		Lines       struct {
			Nodes []lineItem `json:"nodes"`
		} `json:"lineItems"`
	}
	if err := source.Decode(raw, &n); err != nil {
		return nil, &DecodeError{Connection: l.connection, ID: nodeID(raw), Err: err}
	}
	o := &model.CanonicalOrder{Record: c.record(&n.node), Kind: model.KindOrder, Status: n.Financial, Currency: n.Currency,
		CustomerID: n.Customer.ID, Total: &n.Total.ShopMoney.Amount}
	if l.connection == checkoutsListing.connection {
		o.Kind, o.Status, o.Currency = model.KindAbandonedCheckout, "abandoned", n.Total.ShopMoney.CurrencyCode
		if n.CompletedAt != nil {
			o.Status = "completed"
		}
	}
	if n.CancelledAt != nil {
		o.Status = "cancelled"
	}
	o.Lines = make([]model.Line, 0, len(n.Lines.Nodes))
	for _, li := range n.Lines.Nodes {
		line := model.Line{SourceID: li.ID, SKU: li.SKU, Quantity: li.Quantity, ProductID: li.Product.ID, VariantID: li.Variant.ID}
		o.Lines = append(o.Lines, line.Priced(li.UnitPrice.ShopMoney.Amount))
	}
	return o, nil
}
