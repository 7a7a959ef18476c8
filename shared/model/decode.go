package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
	nonstandard "github.com/go-playground/validator/v10/non-standard/validators"

	"github.com/shoplake/shoplake/shared/money"

	"github.com/shoplake/shoplake/shared/drift"
	"github.com/shoplake/shoplake/shared/pseudonym"
)

// ErrInvalid is wrapped by every error that rejects a record as invalid, so
// callers can tell bad data from failures of their own.
var ErrInvalid = errors.New("invalid record")

// Entity describes one source collection: its name (also its table and lake
// path), its API path, and how one raw element becomes a canonical record.
type Entity struct {
	// Name is the entity's name: "products", "users" or "carts".
	Name string
	// Path is the API path that lists the entity, such as "/products".
	Path string

	newRecord func() any
	key       pseudonym.Key // replaces personal identifiers (users)
	// dropped are fields the source sends that the model drops on purpose;
	// derived are model fields computed at ingestion, never sent.
	dropped, derived []string
}

// Schema is the fields the source sends for the entity, for drift reports:
// the model's fields and those it drops on purpose (__v, a user's password),
// less those computed at ingestion (email_hash).
func (e Entity) Schema() drift.Schema {
	return drift.Of(e.newRecord(), e.dropped, e.derived)
}

// WithKey returns e with the key that pseudonymises its personal identifiers
// in Canonical. Users need one; the other entities hold none.
func (e Entity) WithKey(k pseudonym.Key) Entity {
	e.key = k
	return e
}

// Products, Users and Carts are the entities the storefront API serves.
var (
	Products = Entity{Name: "products", Path: "/products", newRecord: func() any { return new(Product) },
		dropped: []string{"__v"}}
	Users = Entity{Name: "users", Path: "/users", newRecord: func() any { return new(User) },
		dropped: []string{"__v", "password"}, derived: []string{"email_hash"}}
	Carts = Entity{Name: "carts", Path: "/carts", newRecord: func() any { return new(Cart) },
		dropped: []string{"__v"}}
)

// BatchEntities are the entities IngestBatch snapshots into the lake.
var BatchEntities = []Entity{Products, Users}

// LookupBatchEntity returns the batch entity with the given name.
func LookupBatchEntity(name string) (Entity, bool) {
	for _, e := range BatchEntities {
		if e.Name == name {
			return e, true
		}
	}
	return Entity{}, false
}

// Canonical decodes one raw JSON element of the entity's list, validates it and
// returns its canonical JSON encoding: the model's fields in declaration order,
// without unknown source fields (`__v`, `password`), and with a user's e-mail
// address replaced by its pseudonym under the entity's key (WithKey). Errors
// wrap ErrInvalid and name the offending fields, never their values.
func (e Entity) Canonical(raw []byte) ([]byte, error) {
	out, _, err := e.CanonicalID(raw)
	return out, err
}

// CanonicalID is Canonical that also returns the record's id.
func (e Entity) CanonicalID(raw []byte) ([]byte, int64, error) {
	v, err := e.Decode(raw)
	if err != nil {
		return nil, 0, err
	}
	if u, ok := v.(*User); ok {
		if !e.key.Valid() {
			return nil, 0, errors.New("encode users record: no pseudonymisation key (model.Users.WithKey)")
		}
		u.EmailHash, u.Email = e.key.Email(u.Email), ""
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, 0, fmt.Errorf("encode %s record: %w", e.Name, err)
	}
	return out, v.(identified).recordID(), nil
}

// identified is a model type with an id, unique within its listing.
type identified interface{ recordID() int64 }

func (p *Product) recordID() int64 { return p.ID }
func (u *User) recordID() int64    { return u.ID }
func (c *Cart) recordID() int64    { return c.ID }

// Decode decodes and validates one raw JSON element into a pointer to the
// entity's model type (*Product, *User or *Cart).
func (e Entity) Decode(raw []byte) (any, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: %s element is not a JSON object", ErrInvalid, e.Name)
	}
	v := e.newRecord()
	if err := json.Unmarshal(trimmed, v); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %s", ErrInvalid, e.Name, describeDecodeError(err))
	}
	if err := Validate(v); err != nil {
		return nil, err
	}
	return v, nil
}

// describeDecodeError names what failed to decode without echoing input bytes.
func describeDecodeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q: expected %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset)
	}
	// Errors from custom decoders (Coordinate) carry no input bytes.
	return err.Error()
}

var validate = newValidate()

func newValidate() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	rules := map[string]validator.Func{"notblank": nonstandard.NotBlank, CartDateRule: cartDateInRange,
		"price": amountWithin(maxPrice), "total": amountWithin(maxTotal)}
	for tag, fn := range rules {
		if err := v.RegisterValidation(tag, fn); err != nil {
			panic(err) // programming error: the tag names are constants
		}
	}
	v.RegisterStructValidation(cartEventShape, CartEvent{})
	return v
}

// The bounds of money in the canonical records: a price as Product's, and
// a total (a line's or an order's) as large as 10,000 lines of the largest
// quantity at the largest price, which NUMERIC(38, 9) holds with room to sum.
var (
	maxPrice = money.MustParse("1000000000")
	maxTotal = money.MustParse("1e19")
)

// amountWithin checks a money.Amount lies in [0, max].
func amountWithin(max money.Amount) validator.Func {
	return func(fl validator.FieldLevel) bool {
		a, ok := fl.Field().Interface().(money.Amount)
		return ok && a.Sign() >= 0 && a.Cmp(max) <= 0
	}
}

// CartDateRule is the validation a cart's date must pass: a date from
// FirstCartDate up to, not including, EndCartDate. A shop cannot have sold
// before 1970 or after 2099; what lies outside is a placeholder
// (0001-01-01, the zero date many backends write for "none", or
// 9999-12-31), and one such cart would stretch dim_date, which spans every
// order date, to millions of days.
const CartDateRule = "from1970to2099"

// The bounds of a cart's date (CartDateRule).
var (
	FirstCartDate = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	EndCartDate   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// cartDateInRange checks a cart date given as the source's string (Cart) or
// as a time (CartEvent).
func cartDateInRange(fl validator.FieldLevel) bool {
	var t time.Time
	switch v := fl.Field().Interface().(type) {
	case time.Time:
		t = v
	case string:
		var err error
		if t, err = time.Parse(cartDateLayout, v); err != nil {
			return false
		}
	default:
		return false
	}
	return !t.Before(FirstCartDate) && t.Before(EndCartDate)
}

// Validate checks a model value against its validate tags. The error wraps
// ErrInvalid and lists every failing field by its JSON path and rule.
func Validate(v any) error {
	err := validate.Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	msgs := make([]string, 0, len(verrs))
	for _, fe := range verrs {
		rule := fe.Tag()
		if fe.Param() != "" {
			rule += "=" + fe.Param()
		}
		msgs = append(msgs, fmt.Sprintf("%s fails %s", jsonPath(fe.Namespace()), rule))
	}
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(msgs, "; "))
}

// jsonPath turns "Product.rating.rate" into "rating.rate".
func jsonPath(ns string) string {
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return ns
}
