package drift

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type geo struct {
	Lat coordinate `json:"lat"`
}

type coordinate float64

func (c *coordinate) UnmarshalJSON([]byte) error { return nil }

type line struct {
	ProductID int64 `json:"productId"`
	Quantity  int64 `json:"quantity"`
}

type record struct {
	ID       int64   `json:"id"`
	Title    string  `json:"title"`
	Active   bool    `json:"active"`
	Geo      *geo    `json:"geo"`
	Lines    []line  `json:"lines"`
	Hash     string  `json:"hash"`
	Price    float64 `json:"price,omitempty"`
	Internal string  `json:"-"`
}

func TestTracker(t *testing.T) {
	t.Parallel()
	schema := Of(record{}, []string{"__v", "password"}, []string{"hash"})
	full := `{"id":1,"title":"a","active":true,"geo":{"lat":"40.1"},"lines":[{"productId":1,"quantity":2}],"price":1,"__v":0,"password":"x"}`
	cases := []struct {
		name    string
		records []string
		want    Report
		wantStr string
	}{
		{name: "no drift", records: []string{full, full}, want: Report{Records: 2}, wantStr: "none"},
		{name: "nulls and other coordinate types are no drift",
			records: []string{`{"id":1,"title":null,"active":true,"geo":{"lat":40.1},"lines":[],"price":1}`, `{"id":2,"title":"b","active":false,"geo":null,"lines":null,"price":null}`},
			want:    Report{Records: 2}, wantStr: "none"},
		{name: "added, stopped and retyped",
			records: []string{
				`{"id":1,"title":"a","active":"yes","geo":{"lat":1,"alt":3},"lines":[{"productId":1,"quantity":2,"sku":"x"}],"colour":"red"}`,
				`{"id":"2","title":"b","active":true,"geo":{"lat":1},"lines":[{"productId":1},{"productId":2,"quantity":1}],"colour":"blue"}`,
			},
			want: Report{Records: 2,
				Added:   []Field{{Path: "colour", Count: 2, Type: TypeString}, {Path: "geo.alt", Count: 1, Type: TypeNumber}, {Path: "lines[].sku", Count: 1, Type: TypeString}},
				Missing: []Field{{Path: "lines[].quantity", Count: 1, Of: 3}, {Path: "price", Count: 2, Of: 2}},
				Retyped: []Field{{Path: "active", Count: 1, Type: TypeString, Want: TypeBoolean}, {Path: "id", Count: 1, Type: TypeString, Want: TypeNumber}},
			},
			wantStr: "added colour (string) in 2 of 2; added geo.alt (number) in 1 of 2; added lines[].sku (string) in 1 of 2; " +
				"missing lines[].quantity in 1 of 3; stopped arriving price (missing in all 2); " +
				"retyped active as string (want boolean) in 1; retyped id as string (want number) in 1"},
		{name: "not an object is not counted", records: []string{`[1]`, `"x"`, `{"id":1`, `null`}, want: Report{}, wantStr: "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := NewTracker(schema)
			for _, r := range tc.records {
				tr.Observe([]byte(r))
			}
			got := tr.Report()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if got.String() != tc.wantStr {
				t.Errorf("String() = %q, want %q", got.String(), tc.wantStr)
			}
			if got.Drifted() != (tc.wantStr != "none") {
				t.Errorf("Drifted() = %v", got.Drifted())
			}
		})
	}
}

func TestUnknownFieldsAreBounded(t *testing.T) {
	t.Parallel()
	tr := NewTracker(Of(record{}, nil, nil))
	var b strings.Builder
	b.WriteString(`{"id":1`)
	for i := range 3 * MaxUnknown {
		b.WriteString(`,"f` + strings.Repeat("x", i) + `\n":1`)
	}
	b.WriteString("}")
	tr.Observe([]byte(b.String()))
	got := tr.Report()
	if len(got.Added) != MaxUnknown+1 {
		t.Fatalf("%d added fields named, want %d and %s", len(got.Added), MaxUnknown, OtherFields)
	}
	for _, f := range got.Added {
		if len(f.Path) > maxName+len("…") || strings.ContainsRune(f.Path, '\n') {
			t.Errorf("path %q not clipped", f.Path)
		}
	}
}

// FuzzObserve: any input is read without a panic, and for every JSON
// object the byte scanner counts what a plain decode into maps counts.
func FuzzObserve(f *testing.F) {
	f.Add([]byte(`{"id":1,"lines":[{"productId":1}],"geo":{"lat":"1"}}`))
	f.Add([]byte(`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{}}}}}}}}}}`))
	f.Add([]byte(`{"id":"x","title":null,"lines":[1,{"quantity":true,"x":[{}]}],"geo":[],"__v":{"a":1},"k\u00e9y":"\"}"}`))
	schema := Of(record{}, []string{"__v"}, []string{"hash"})
	f.Fuzz(func(t *testing.T, raw []byte) {
		tr := NewTracker(schema)
		tr.Observe(raw)
		_ = tr.Report().String()

		var rec map[string]any
		if json.Unmarshal(raw, &rec) != nil || rec == nil {
			return
		}
		canonical, err := json.Marshal(rec) // one value a key, as the decode sees it
		if err != nil {
			return
		}
		got := NewTracker(schema)
		got.Observe(canonical)
		want := reference(schema, rec)
		if len(want.Added) >= MaxUnknown {
			return // which fields are named then depends on the order read
		}
		if diff := cmp.Diff(want, got.Report(), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("scanner and decode differ on %s (-decode +scanner):\n%s", canonical, diff)
		}
	})
}

// reference counts one decoded record the plain way, for FuzzObserve.
func reference(s Schema, rec map[string]any) Report {
	t := NewTracker(s)
	t.records++
	referenceObject(t, s.root, rec, "", 0)
	return t.Report()
}

func referenceObject(t *Tracker, l *level, obj map[string]any, prefix string, depth int) {
	if depth >= MaxDepth {
		return
	}
	for name, v := range obj {
		typ := referenceType(v)
		k := l.byName[name]
		switch {
		case k == nil:
			t.count(t.unknown, prefix+name, typ, "")
			continue
		case k.ignored:
			continue
		}
		t.present[k.id]++
		if typ != k.typ && typ != TypeNull && k.typ != TypeAny {
			t.retype(k, typ)
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			if k.child != nil {
				referenceObject(t, k.child, v, k.path+".", depth+1)
			}
		case []any:
			for _, el := range v {
				if m, ok := el.(map[string]any); ok && k.child != nil {
					referenceObject(t, k.child, m, k.path+"[].", depth+1)
				}
			}
		}
	}
	for _, k := range l.list {
		if !k.ignored {
			t.parents[k.id]++
		}
	}
}

func referenceType(v any) string {
	switch v.(type) {
	case string:
		return TypeString
	case float64:
		return TypeNumber
	case bool:
		return TypeBoolean
	case map[string]any:
		return TypeObject
	case []any:
		return TypeArray
	}
	return TypeNull
}
