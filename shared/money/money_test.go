package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestParseAndString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
		err      bool
	}{
		{in: "109.95", want: "109.95"},
		{in: "0.10", want: "0.1"},
		{in: "  7 ", want: "7"},
		{in: "-3.500", want: "-3.5"},
		{in: "1.5e2", want: "150"},
		{in: "0.000000001", want: "0.000000001"},
		{in: "0", want: "0"},
		{in: "-0.0", want: "0"},
		{in: "0.0000000001", err: true},
		{in: "1e38", err: true},
		{in: "1e999999999", err: true},
		{in: "1e-999999999", err: true},
		{in: "12.34.5", err: true},
		{in: "", err: true},
		{in: "NaN", err: true},
		{in: "Inf", err: true},
		{in: "1/3", err: true},
		{in: "0x10", err: true},
		{in: "1_000", err: true},
	}
	for _, tc := range cases {
		a, err := Parse(tc.in)
		switch {
		case tc.err && !errors.Is(err, ErrInvalid):
			t.Errorf("Parse(%q) = %v, %v; want ErrInvalid", tc.in, a, err)
		case !tc.err && (err != nil || a.String() != tc.want):
			t.Errorf("Parse(%q) = %v, %v; want %s", tc.in, a, err, tc.want)
		}
	}
}

// TestSumsAreExact: what float64 gets wrong, an Amount does not.
func TestSumsAreExact(t *testing.T) {
	t.Parallel()
	if got := MustParse("0.10").Add(MustParse("0.20")); got.Cmp(MustParse("0.3")) != 0 || got.String() != "0.3" {
		t.Errorf("0.10 + 0.20 = %s, want exactly 0.3", got)
	}
	var sum Amount
	for range 1000 {
		sum = sum.Add(MustParse("0.01"))
	}
	if sum.String() != "10" {
		t.Errorf("a thousand cents = %s, want 10", sum)
	}
	if got := MustParse("109.95").Mul(3); got.String() != "329.85" {
		t.Errorf("109.95 × 3 = %s", got)
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	var v struct {
		A Amount `json:"a"`
		B Amount `json:"b"`
		C Amount `json:"c"`
	}
	if err := json.Unmarshal([]byte(`{"a":"19.99","b":0.1,"c":null}`), &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil || string(out) != `{"a":"19.99","b":"0.1","c":"0"}` {
		t.Errorf("round trip = %s, %v", out, err)
	}
	for _, bad := range []string{`{"a":"abc"}`, `{"a":true}`, `{"a":1e-12}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

// FuzzParse: any text either fails cleanly or reads back as itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"109.95", "-0.1", "1e3", "0.000000001", "99999999999999999999999999999.999999999", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		b, err := Parse(a.String())
		if err != nil || a.Cmp(b) != 0 {
			t.Fatalf("Parse(%q) = %s, which reads back as %v, %v", s, a, b, err)
		}
	})
}

func TestNumericBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		amount string
		want   []byte // little-endian two's complement of the billionths
	}{
		{"0", []byte{0x00}},
		{"0.000000001", []byte{0x01}},
		{"0.000000127", []byte{0x7f}},
		{"0.000000128", []byte{0x80, 0x00}},
		{"-0.000000001", []byte{0xff}},
		{"-0.000000128", []byte{0x80}},
		{"-0.000000129", []byte{0x7f, 0xff}},
		{"1", []byte{0x00, 0xca, 0x9a, 0x3b}},    // 1,000,000,000 = 0x3b9aca00
		{"0.30", []byte{0x00, 0xa3, 0xe1, 0x11}}, // 300,000,000 = 0x11e1a300
	}
	for _, tc := range cases {
		if got := MustParse(tc.amount).NumericBytes(); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: % x, want % x", tc.amount, got, tc.want)
		}
	}
}
