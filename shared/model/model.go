// Package model defines the storefront records Shoplake ingests (products, users,
// carts), how they are decoded from the FakeStore-compatible API, and how they are
// validated with validator/v10.
//
// Decoding is deliberately tolerant of the live API's quirks (string lat/long,
// the `__v` version key) and deliberately forgetful of what must never be kept:
// the User type has no password field, so a source password cannot survive
// decoding into anything Shoplake writes.
package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Product is one catalogue item from GET /products.
//
// A price is at most 1,000,000,000 and a cart line's quantity at most
// 1,000,000. The warehouse keeps money as NUMERIC (38 digits, 9 after the
// point, on BigQuery and DuckDB alike): within these bounds a line's revenue
// (at most 10^15), an order of 10,000 lines and any sum a BI tool takes over
// its orders stay far inside it, where one larger value would stop every
// build of the marts.
type Product struct {
	ID          int64   `json:"id" validate:"gt=0"`
	Title       string  `json:"title" validate:"notblank,max=1000"`
	Price       float64 `json:"price" validate:"gte=0,lte=1000000000"`
	Description string  `json:"description" validate:"max=10000"`
	Category    string  `json:"category" validate:"notblank,max=200"`
	Image       string  `json:"image" validate:"omitempty,url,max=2000"`
	Rating      *Rating `json:"rating"`
}

// Rating is a product's average review score and review count.
type Rating struct {
	Rate  float64 `json:"rate" validate:"gte=0,lte=5"`
	Count int64   `json:"count" validate:"gte=0"`
}

// User is one customer from GET /users. It intentionally has no password field:
// the source's plaintext password is dropped by decoding. Its e-mail address
// is validated, then replaced by its pseudonym before anything is written
// (see Entity.WithKey): a canonical user holds email_hash, never email.
type User struct {
	ID        int64    `json:"id" validate:"gt=0"`
	Email     string   `json:"email,omitempty" validate:"required,email,max=320"`
	EmailHash string   `json:"email_hash" validate:"-"`
	Username  string   `json:"username" validate:"notblank,max=200"`
	Name      Name     `json:"name"`
	Phone     string   `json:"phone" validate:"max=100"`
	Address   *Address `json:"address"`
}

// Name is a user's first and last name.
type Name struct {
	Firstname string `json:"firstname" validate:"max=200"`
	Lastname  string `json:"lastname" validate:"max=200"`
}

// Address is a user's postal address with its geolocation.
type Address struct {
	City        string       `json:"city" validate:"max=200"`
	Street      string       `json:"street" validate:"max=200"`
	Number      int64        `json:"number" validate:"gte=0"`
	Zipcode     string       `json:"zipcode" validate:"max=20"`
	Geolocation *Geolocation `json:"geolocation"`
}

// Geolocation is a latitude/longitude pair. The live API sends both as strings.
type Geolocation struct {
	Lat  *Coordinate `json:"lat" validate:"omitnil,gte=-90,lte=90"`
	Long *Coordinate `json:"long" validate:"omitnil,gte=-180,lte=180"`
}

// Coordinate is a decimal degree that decodes from a JSON number or a JSON
// string holding a number, and always encodes as a JSON number.
type Coordinate float64

// UnmarshalJSON accepts 40.3467 and "40.3467".
func (c *Coordinate) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("coordinate: %w", err)
		}
		s = strings.TrimSpace(str)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("coordinate: not a decimal number")
	}
	*c = Coordinate(f)
	return nil
}

// Cart is one shopping cart from GET /carts.
type Cart struct {
	ID       int64      `json:"id" validate:"gt=0"`
	UserID   int64      `json:"userId" validate:"gt=0"`
	Date     string     `json:"date" validate:"required,datetime=2006-01-02T15:04:05.000Z,from1970to2099"`
	Products []CartLine `json:"products" validate:"dive"`
}

// CartLine is one product line of a cart. Its quantity is bounded as
// Product says.
type CartLine struct {
	ProductID int64 `json:"productId" validate:"gt=0"`
	Quantity  int64 `json:"quantity" validate:"gt=0,lte=1000000"`
}
