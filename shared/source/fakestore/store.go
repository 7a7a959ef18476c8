// Package fakestore reads a FakeStore-compatible API (/products, /users,
// /carts) as canonical records: the source.Store of the store Shoplake has
// read from the start. Each product has one variant, priced as the product
// (the price's text kept exactly); each user is a customer (the e-mail
// address, city and postal code: the plaintext password, and the rest of
// what FakeStore says of a person, are not kept); each cart is an order of
// kind cart in the configured currency, its lines unpriced (FakeStore carts
// name products and quantities only; the warehouse prices them as of the
// cart's date). FakeStore has no filter by time: since is ignored and every
// listing is whole.
package fakestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/source"
)

// DefaultCurrency is the currency of a FakeStore's carts unless configured.
const DefaultCurrency = "USD"

// Config configures a Store.
type Config struct {
	// Store names the store in the records: its base URL.
	Store string
	// Currency is the ISO code of the carts' currency (default USD).
	Currency string
}

// Store reads a FakeStore-compatible API through a source.Client. Each
// listing is one attempt; run it inside the client's Retry.
type Store struct {
	cfg    Config
	client source.Lister
}

var _ source.Store = (*Store)(nil)

// New returns a Store reading through client.
func New(cfg Config, client source.Lister) *Store {
	if cfg.Currency == "" {
		cfg.Currency = DefaultCurrency
	}
	return &Store{cfg: cfg, client: client}
}

// Origin names the store.
func (s *Store) Origin() model.Origin { return model.Origin{Kind: "fakestore", Store: s.cfg.Store} }

// each lists path, handing fn each element's bytes or, for one over the
// size limit, its error.
func (s *Store) each(ctx context.Context, path string, fn func(json.RawMessage, error) error) error {
	return s.client.Each(ctx, path, func(raw json.RawMessage, big *source.OversizedError) error {
		if big != nil {
			return fn(nil, fmt.Errorf("%w: %w", model.ErrInvalid, big))
		}
		return fn(raw, nil)
	})
}

// invalid is the error of a record that cannot be read.
func invalid(entity string, raw json.RawMessage, err error) error {
	return fmt.Errorf("%w: fakestore %s %.80s: %v", model.ErrInvalid, entity, raw, err)
}

// Products lists /products.
func (s *Store) Products(ctx context.Context, _ time.Time, fn func(*model.CanonicalProduct, error) error) error {
	return s.each(ctx, "/products", func(raw json.RawMessage, err error) error {
		if err != nil {
			return fn(nil, err)
		}
		var p struct {
			ID       int64        `json:"id"`
			Title    string       `json:"title"`
			Price    money.Amount `json:"price"`
			Category string       `json:"category"`
		}
		if err := json.Unmarshal(raw, &p); err != nil || p.ID <= 0 {
			return fn(nil, invalid("product", raw, err))
		}
		id := strconv.FormatInt(p.ID, 10)
		rec := model.Record{Origin: s.Origin(), SourceID: id, Attributes: model.Attributes(raw, "id", "title", "price", "category", "__v")}
		return fn(&model.CanonicalProduct{Record: rec, Title: p.Title, Category: p.Category,
			Variants: []model.Variant{{SourceID: id, Price: p.Price}}}, nil)
	})
}

// Customers lists /users.
func (s *Store) Customers(ctx context.Context, _ time.Time, fn func(*model.CanonicalCustomer, error) error) error {
	return s.each(ctx, "/users", func(raw json.RawMessage, err error) error {
		if err != nil {
			return fn(nil, err)
		}
		var u struct {
			ID      int64  `json:"id"`
			Email   string `json:"email"`
			Address struct {
				City    string `json:"city"`
				Zipcode string `json:"zipcode"`
			} `json:"address"`
		}
		if err := json.Unmarshal(raw, &u); err != nil || u.ID <= 0 {
			return fn(nil, invalid("user", nil, err)) // not the record: it holds a password
		}
		rec := model.Record{Origin: s.Origin(), SourceID: strconv.FormatInt(u.ID, 10)}
		return fn(&model.CanonicalCustomer{Record: rec, Email: u.Email, City: u.Address.City, PostalCode: u.Address.Zipcode}, nil)
	})
}

// Orders lists /carts as orders of kind cart.
func (s *Store) Orders(ctx context.Context, _ time.Time, fn func(*model.CanonicalOrder, error) error) error {
	return s.each(ctx, "/carts", func(raw json.RawMessage, err error) error {
		if err != nil {
			return fn(nil, err)
		}
		var c struct {
			ID     int64     `json:"id"`
			UserID int64     `json:"userId"`
			Date   time.Time `json:"date"`
			Lines  []struct {
				ProductID int64 `json:"productId"`
				Quantity  int64 `json:"quantity"`
			} `json:"products"`
		}
		if err := json.Unmarshal(raw, &c); err != nil || c.ID <= 0 {
			return fn(nil, invalid("cart", raw, err))
		}
		at := c.Date.UTC()
		rec := model.Record{Origin: s.Origin(), SourceID: strconv.FormatInt(c.ID, 10), CreatedAt: at, UpdatedAt: at,
			Attributes: model.Attributes(raw, "id", "userId", "date", "products", "__v")}
		o := &model.CanonicalOrder{Record: rec, Kind: model.KindCart, Status: "open", Currency: s.cfg.Currency,
			CustomerID: strconv.FormatInt(c.UserID, 10)}
		for _, l := range c.Lines {
			o.Lines = append(o.Lines, model.Line{ProductID: strconv.FormatInt(l.ProductID, 10), VariantID: strconv.FormatInt(l.ProductID, 10), Quantity: l.Quantity})
		}
		return fn(o, nil)
	})
}
