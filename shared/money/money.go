// Package money holds exact decimal amounts. An amount is read from the
// text an API sent (a JSON string such as "109.95", or the digits of a JSON
// number, never through a float64), kept as an integer count of
// billionths, and written as the shortest decimal text that means the same,
// so sums are exact to the cent and beyond: 0.10 + 0.20 is 0.3. The warehouse
// keeps the same precision (NUMERIC(38, 9) on BigQuery, decimal(38, 9) on
// DuckDB).
package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// Scale is how many digits after the point an Amount keeps.
const Scale = 9

// MaxDigits is the most digits an Amount may have, as NUMERIC(38, 9).
const MaxDigits = 38

var (
	unit  = new(big.Int).Exp(big.NewInt(10), big.NewInt(Scale), nil)
	limit = new(big.Int).Exp(big.NewInt(10), big.NewInt(MaxDigits), nil)
)

// ErrInvalid reports text that is not an exact decimal amount Shoplake can
// keep.
var ErrInvalid = errors.New("invalid amount")

// Amount is an exact decimal with at most Scale digits after the point. The
// zero value is 0.
type Amount struct {
	n *big.Int // billionths; nil is 0
}

func (a Amount) int() *big.Int {
	if a.n == nil {
		return new(big.Int)
	}
	return a.n
}

// Parse reads a decimal such as "109.95", "-3", "0.1" or "1.5e2". More than
// Scale digits after the point, more than MaxDigits in all, or anything that
// is not a number is an error wrapping ErrInvalid that shows the text.
func Parse(s string) (Amount, error) {
	if a, ok := parsePlain(s); ok {
		return a, nil
	}
	t := strings.TrimSpace(s)
	if t == "" || len(t) > 100 || strings.ContainsAny(t, "/_xXpP") || strings.EqualFold(strings.TrimLeft(t, "+-"), "inf") {
		return Amount{}, fmt.Errorf("%w: %.40q is not a decimal number", ErrInvalid, s)
	}
	if i := strings.IndexAny(t, "eE"); i >= 0 {
		// 1e999999999 would make a number of a billion digits.
		if exp, err := strconv.Atoi(t[i+1:]); err != nil || exp < -50 || exp > 50 {
			return Amount{}, fmt.Errorf("%w: %.40q has an exponent out of range", ErrInvalid, s)
		}
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok {
		return Amount{}, fmt.Errorf("%w: %.40q is not a decimal number", ErrInvalid, s)
	}
	r.Mul(r, new(big.Rat).SetInt(unit))
	if !r.IsInt() {
		return Amount{}, fmt.Errorf("%w: %.40q has more than %d digits after the point", ErrInvalid, s, Scale)
	}
	n := new(big.Int).Set(r.Num())
	if new(big.Int).Abs(n).Cmp(limit) >= 0 {
		return Amount{}, fmt.Errorf("%w: %.40q has more than %d digits", ErrInvalid, s, MaxDigits)
	}
	return Amount{n: n}, nil
}

// parsePlain reads the common form quickly: an optional minus, up to 9
// digits, and optionally a point with up to 9 digits. Anything else is left
// to Parse's general path.
func parsePlain(s string) (Amount, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 9 || len(frac) > Scale || (dot && frac == "") {
		return Amount{}, false
	}
	var n int64
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return Amount{}, false
			}
			n = n*10 + int64(c-'0')
		}
	}
	for range Scale - len(frac) {
		n *= 10
	}
	if neg {
		n = -n
	}
	return Amount{n: big.NewInt(n)}, true
}

// MustParse is Parse for constants in code and tests; it panics on error.
func MustParse(s string) Amount {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

// Add returns a + b.
func (a Amount) Add(b Amount) Amount { return Amount{n: new(big.Int).Add(a.int(), b.int())} }

// Mul returns a × q, for a unit price and a quantity.
func (a Amount) Mul(q int64) Amount { return Amount{n: new(big.Int).Mul(a.int(), big.NewInt(q))} }

// Cmp compares a and b: -1, 0 or +1.
func (a Amount) Cmp(b Amount) int { return a.int().Cmp(b.int()) }

// Sign is -1, 0 or +1.
func (a Amount) Sign() int { return a.int().Sign() }

// IsZero reports whether a is 0.
func (a Amount) IsZero() bool { return a.Sign() == 0 }

// String is the shortest decimal text of a: "109.95", "0.3", "-2", "0".
func (a Amount) String() string {
	n := a.int()
	neg := n.Sign() < 0
	abs := new(big.Int).Abs(n)
	q, r := new(big.Int).QuoRem(abs, unit, new(big.Int))
	s := q.String()
	if r.Sign() != 0 {
		frac := fmt.Sprintf("%0*s", Scale, r.String())
		s += "." + strings.TrimRight(frac, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// MarshalJSON writes a as a JSON string, so that no reader takes it through
// a float.
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// UnmarshalJSONFrom reads a as UnmarshalJSON does, from a decoder of
// encoding/json/v2's kind (github.com/go-json-experiment/json), without the
// copy the older interface takes.
func (a *Amount) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return a.UnmarshalJSON(v)
}

// UnmarshalJSON reads a JSON string holding a decimal, or a JSON number by
// its text. null leaves a as it is.
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		s = s[1 : len(s)-1] // a plain string: nothing to unquote
	} else if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// NumericBytes is a as the BigQuery Storage Write API takes a NUMERIC in
// bytes: its count of billionths (NUMERIC's scale is 9, as Scale) in
// little-endian two's complement, as few bytes as hold it and its sign.
func (a Amount) NumericBytes() []byte {
	n := a.int()
	mag := n // what the bits other than the sign must hold: n, or −n−1
	if n.Sign() < 0 {
		mag = new(big.Int).Sub(new(big.Int).Neg(n), big.NewInt(1))
	}
	size := mag.BitLen()/8 + 1 // room for the sign bit
	b := make([]byte, size)
	v := new(big.Int).Set(n)
	if n.Sign() < 0 {
		// Two's complement: 2^(8·size) + n.
		v.Add(v, new(big.Int).Lsh(big.NewInt(1), uint(8*size)))
	}
	be := v.FillBytes(make([]byte, size))
	for i := range be {
		b[i] = be[size-1-i]
	}
	return b
}
