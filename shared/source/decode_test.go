package source

import (
	"encoding/json"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// record is a record as an adapter decodes one: named fields, and the rest.
type record struct {
	ID      int64          `json:"id"`
	Name    string         `json:"name"`
	Unknown jsontext.Value `json:",unknown"`
}

func TestDecodeKeepsWhatIsNotNamed(t *testing.T) {
	cases := []struct {
		name, in string
		want     record
		attrs    string // Attributes of what was not named
		wantErr  bool
	}{
		{name: "named only", in: `{"id":1,"name":"a"}`, want: record{ID: 1, Name: "a"}},
		{name: "the rest, compacted", in: `{"id":2, "x": [1, 2], "name":"b", "y": {"z": "a b"}}`, want: record{ID: 2, Name: "b"},
			attrs: `{"x":[1,2],"y":{"z":"a b"}}`},
		{name: "names match exactly", in: `{"ID":3}`, attrs: `{"ID":3}`},
		{name: "invalid UTF-8 is taken", in: "{\"id\":4,\"name\":\"caf\xe9\"}", want: record{ID: 4, Name: "caf\uFFFD"}},
		{name: "a name given twice", in: `{"id":5,"id":6}`, wantErr: true},
		{name: "a wrong type names its path", in: `{"id":"seven"}`, wantErr: true},
		{name: "not JSON", in: `<html>`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got record
			err := Decode([]byte(tc.in), &got)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Decode(%s): error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got.ID != tc.want.ID || got.Name != tc.want.Name {
				t.Errorf("Decode(%s) = %+v, want %+v", tc.in, got, tc.want)
			}
			if a := string(Attributes(got.Unknown)); a != tc.attrs {
				t.Errorf("Attributes = %s, want %s", a, tc.attrs)
			}
		})
	}
}

// FuzzDecode: whatever a store sends, Decode does not panic, and what it
// keeps of a record it accepts is nil or one JSON object.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"id":1,"name":"a","x":[1, 2]}`, `{"id":1,"id":2}`, `[]`, `{"x":{"y":"\u00e9"}}`, "{\"x\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r record
		if Decode(b, &r) != nil {
			return
		}
		a := Attributes(r.Unknown)
		if a == nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(a, &m); err != nil {
			t.Fatalf("Attributes of %q = %q: not a JSON object: %v", b, a, err)
		}
	})
}
