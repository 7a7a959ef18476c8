package shopify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
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
	return model.Origin{Kind: "shopify", Store: c.cfg.BaseURL}
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

// record decodes what every node has, and keeps the fields named in
// known out of its attributes.
func (c *Client) record(raw json.RawMessage, known ...string) (model.Record, error) {
	var n struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"createdAt"`
		UpdatedAt time.Time `json:"updatedAt"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return model.Record{}, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return model.Record{}, err
	}
	for _, k := range append(known, "id", "createdAt", "updatedAt") {
		delete(all, k)
	}
	r := model.Record{Origin: c.Origin(), SourceID: n.ID, CreatedAt: n.CreatedAt.UTC(), UpdatedAt: n.UpdatedAt.UTC()}
	if len(all) > 0 {
		r.Attributes, _ = json.Marshal(all)
	}
	return r, nil
}

func (c *Client) product(raw json.RawMessage) (*model.CanonicalProduct, error) {
	var n struct {
		Title       string `json:"title"`
		ProductType string `json:"productType"`
		Variants    struct {
			Nodes []struct {
				ID    string       `json:"id"`
				SKU   string       `json:"sku"`
				Price money.Amount `json:"price"`
			} `json:"nodes"`
		} `json:"variants"`
	}
	rec, err := c.record(raw, "title", "productType", "variants")
	if err == nil {
		err = json.Unmarshal(raw, &n)
	}
	if err != nil {
		return nil, &DecodeError{Connection: "products", ID: nodeID(raw), Err: err}
	}
	p := &model.CanonicalProduct{Record: rec, Title: n.Title, Category: n.ProductType}
	for _, v := range n.Variants.Nodes {
		p.Variants = append(p.Variants, model.Variant{SourceID: v.ID, SKU: v.SKU, Price: v.Price})
	}
	return p, nil
}

func (c *Client) customer(raw json.RawMessage) (*model.CanonicalCustomer, error) {
	var n struct {
		Email *struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"defaultEmailAddress"`
		Address *struct {
			City    string `json:"city"`
			Zip     string `json:"zip"`
			Country string `json:"countryCodeV2"`
		} `json:"defaultAddress"`
	}
	rec, err := c.record(raw, "defaultEmailAddress", "defaultAddress")
	if err == nil {
		err = json.Unmarshal(raw, &n)
	}
	if err != nil {
		return nil, &DecodeError{Connection: "customers", ID: nodeID(raw), Err: err}
	}
	cu := &model.CanonicalCustomer{Record: rec}
	if n.Email != nil {
		cu.Email = n.Email.EmailAddress
	}
	if n.Address != nil {
		cu.City, cu.PostalCode, cu.Country = n.Address.City, n.Address.Zip, n.Address.Country
	}
	return cu, nil
}

func (c *Client) order(raw json.RawMessage, l listing) (*model.CanonicalOrder, error) {
	var n struct {
		CancelledAt   *time.Time `json:"cancelledAt"`
		CompletedAt   *time.Time `json:"completedAt"`
		CurrencyCode  string     `json:"currencyCode"`
		Financial     string     `json:"displayFinancialStatus"`
		Customer      *ref       `json:"customer"`
		TotalPriceSet moneyBag   `json:"totalPriceSet"`
		LineItems     struct {
			Nodes []struct {
				ID        string   `json:"id"`
				SKU       string   `json:"sku"`
				Quantity  int64    `json:"quantity"`
				Product   *ref     `json:"product"`
				Variant   *ref     `json:"variant"`
				UnitPrice moneyBag `json:"originalUnitPriceSet"`
			} `json:"nodes"`
		} `json:"lineItems"`
	}
	rec, err := c.record(raw, "cancelledAt", "completedAt", "currencyCode", "displayFinancialStatus", "customer", "totalPriceSet", "lineItems")
	if err == nil {
		err = json.Unmarshal(raw, &n)
	}
	if err != nil {
		return nil, &DecodeError{Connection: l.connection, ID: nodeID(raw), Err: err}
	}
	o := &model.CanonicalOrder{Record: rec, Kind: model.KindOrder, Status: n.Financial,
		Currency: n.CurrencyCode, Total: n.TotalPriceSet.ShopMoney.Amount}
	if l.connection == checkoutsListing.connection {
		o.Kind, o.Status, o.Currency = model.KindAbandonedCheckout, "abandoned", n.TotalPriceSet.ShopMoney.CurrencyCode
		if n.CompletedAt != nil {
			o.Status = "completed"
		}
	}
	if n.CancelledAt != nil {
		o.Status = "cancelled"
	}
	if n.Customer != nil {
		o.CustomerID = n.Customer.ID
	}
	for _, li := range n.LineItems.Nodes {
		line := model.Line{SourceID: li.ID, SKU: li.SKU, Quantity: li.Quantity, UnitPrice: li.UnitPrice.ShopMoney.Amount}
		if li.Product != nil {
			line.ProductID = li.Product.ID
		}
		if li.Variant != nil {
			line.VariantID = li.Variant.ID
		}
		line.Total = line.UnitPrice.Mul(line.Quantity)
		o.Lines = append(o.Lines, line)
	}
	return o, nil
}
