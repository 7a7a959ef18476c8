// Package drift compares the records a source sends with the fields its model
// knows, on every run: fields the source added, known fields that stopped
// arriving, and known fields whose JSON type changed. It reads field names and
// JSON types only, never values, so a report holds no personal data.
//
// Drift never rejects a record: unknown fields are dropped by decoding and a
// record is valid or not by its model's rules alone. A report is what a person
// needs to decide whether the model should follow the source.
package drift

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
)

// JSON types as a report names them.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeObject  = "object"
	TypeArray   = "array"
	TypeNull    = "null"
	// TypeAny is a known field whose model type decodes more than one JSON
	// type (a json.Unmarshaler such as a coordinate sent as "40.3" or 40.3).
	TypeAny = "any"
)

// Limits that bound what a hostile or broken source can make a Tracker hold.
const (
	// MaxUnknown is the number of distinct unknown field paths a Tracker
	// names; further ones are counted under OtherFields.
	MaxUnknown = 100
	// MaxDepth is how deep a record is walked; deeper fields are not looked at.
	MaxDepth = 8
	// maxName is the length at which an unknown field's name is cut.
	maxName = 64
)

// OtherFields is the path under which unknown fields beyond MaxUnknown are
// counted.
const OtherFields = "(other fields)"

// Schema is the fields of an entity's records: each known path (a.b for a
// nested object's field, a[].b for a field of an array's elements) with its
// JSON type. Build one with Of.
type Schema struct {
	fields map[string]string
	// children lists the known paths directly under each prefix ("" for the
	// record's own fields, "a." and "a[]." for nested ones).
	children map[string][]string
	// ignored are fields the source sends that the model drops on purpose
	// (__v, password): known, of any type, never reported missing.
	ignored map[string]bool
}

// Of returns the schema of the JSON encoding of v's type (a struct or a
// pointer to one), read from its json tags. ignored names fields the source
// sends and the model drops on purpose; derived names model fields the source
// does not send (computed at ingestion, such as a pseudonym).
func Of(v any, ignored, derived []string) Schema {
	s := Schema{fields: map[string]string{}, children: map[string][]string{}, ignored: map[string]bool{}}
	for _, f := range ignored {
		s.ignored[f] = true
	}
	s.walk(reflect.TypeOf(v), "", 0)
	for _, f := range derived {
		delete(s.fields, f)
	}
	for path := range s.fields {
		i := strings.LastIndexAny(path, ".")
		prefix := path[:i+1]
		s.children[prefix] = append(s.children[prefix], path)
	}
	return s
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

func (s Schema) walk(t reflect.Type, prefix string, depth int) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth >= MaxDepth {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := prefix + name
		typ, elem := jsonType(f.Type)
		s.fields[path] = typ
		switch typ {
		case TypeObject:
			s.walk(f.Type, path+".", depth+1)
		case TypeArray:
			s.walk(elem, path+"[].", depth+1)
		}
	}
}

// jsonType is the JSON type a Go type encodes as, and for a slice its
// element type.
func jsonType(t reflect.Type) (string, reflect.Type) {
	if t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) {
		return TypeAny, nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		if t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) {
			return TypeAny, nil
		}
	}
	switch t.Kind() {
	case reflect.String:
		return TypeString, nil
	case reflect.Bool:
		return TypeBoolean, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return TypeNumber, nil
	case reflect.Slice, reflect.Array:
		return TypeArray, t.Elem()
	case reflect.Struct, reflect.Map:
		return TypeObject, nil
	}
	return TypeAny, nil
}

// Tracker counts, over the records of one run, what differs from a schema.
// It is not safe for concurrent use.
type Tracker struct {
	schema  Schema
	records int64
	// parents counts, per known path, the objects that could hold it (its
	// parent was present); present those that did.
	parents, present map[string]int64
	unknown          map[string]*Field
	retyped          map[string]*Field
}

// NewTracker returns a Tracker for records of the schema.
func NewTracker(s Schema) *Tracker {
	return &Tracker{schema: s, parents: map[string]int64{}, present: map[string]int64{},
		unknown: map[string]*Field{}, retyped: map[string]*Field{}}
}

// Observe counts one raw record. A record that is not a JSON object is left
// to the model's validation and not counted here.
func (t *Tracker) Observe(raw []byte) {
	var rec map[string]any
	if json.Unmarshal(raw, &rec) != nil || rec == nil {
		return
	}
	t.records++
	t.object(rec, "", 0)
}

func (t *Tracker) object(obj map[string]any, prefix string, depth int) {
	if depth >= MaxDepth {
		return
	}
	for _, path := range t.schema.children[prefix] {
		t.parents[path]++
	}
	for name, v := range obj {
		path := prefix + name
		want, known := t.schema.fields[path]
		if !known {
			if !t.schema.ignored[path] {
				t.count(t.unknown, path, typeOf(v), "")
			}
			continue
		}
		t.present[path]++
		got := typeOf(v)
		if got != want && got != TypeNull && want != TypeAny {
			t.count(t.retyped, path, got, want)
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			t.object(v, path+".", depth+1)
		case []any:
			for _, el := range v {
				if m, ok := el.(map[string]any); ok {
					t.object(m, path+"[].", depth+1)
				}
			}
		}
	}
}

func (t *Tracker) count(m map[string]*Field, path, typ, want string) {
	if f, ok := m[path]; ok {
		f.Count++
		return
	}
	if len(m) >= MaxUnknown {
		path, typ = OtherFields, ""
		if f, ok := m[path]; ok {
			f.Count++
			return
		}
	}
	m[path] = &Field{Path: clip(path), Count: 1, Type: typ, Want: want}
}

// clip cuts a path named by the source to a printable, bounded length.
func clip(path string) string {
	path = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, path)
	if len(path) > maxName {
		return path[:maxName] + "…"
	}
	return path
}

func typeOf(v any) string {
	switch v.(type) {
	case string:
		return TypeString
	case float64, json.Number:
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

// Field is one drifted field of a report.
type Field struct {
	// Path names the field: a.b inside an object, a[].b inside an array's
	// elements.
	Path string `json:"path"`
	// Count is how many objects had the field (added, retyped) or lacked it
	// (missing).
	Count int64 `json:"count"`
	// Of is how many objects could have held it (missing only).
	Of int64 `json:"of,omitempty"`
	// Type is the JSON type the source sent (added, retyped).
	Type string `json:"type,omitempty"`
	// Want is the JSON type the model expects (retyped).
	Want string `json:"want,omitempty"`
}

// Report is the drift of one entity in one run.
type Report struct {
	// Records is the number of records observed.
	Records int64 `json:"records"`
	// Added are fields the model does not know.
	Added []Field `json:"added,omitempty"`
	// Missing are known fields some objects lacked; a field with Count ==
	// Of stopped arriving.
	Missing []Field `json:"missing,omitempty"`
	// Retyped are known fields sent with another JSON type.
	Retyped []Field `json:"retyped,omitempty"`
}

// Report returns what the tracker counted, each list sorted by path.
func (t *Tracker) Report() Report {
	r := Report{Records: t.records}
	for _, f := range t.unknown {
		r.Added = append(r.Added, *f)
	}
	for _, f := range t.retyped {
		r.Retyped = append(r.Retyped, *f)
	}
	for path, of := range t.parents {
		if n := of - t.present[path]; n > 0 {
			r.Missing = append(r.Missing, Field{Path: path, Count: n, Of: of})
		}
	}
	for _, l := range [][]Field{r.Added, r.Missing, r.Retyped} {
		slices.SortFunc(l, func(a, b Field) int { return strings.Compare(a.Path, b.Path) })
	}
	return r
}

// Drifted reports whether anything differs from the schema.
func (r Report) Drifted() bool {
	return len(r.Added)+len(r.Missing)+len(r.Retyped) > 0
}

// String names every drifted field in one line, such as
// "added colour (20 of 20); stopped arriving rating.count; retyped price as string (want number) in 3".
func (r Report) String() string {
	var parts []string
	for _, f := range r.Added {
		parts = append(parts, fmt.Sprintf("added %s (%s) in %d of %d", f.Path, f.Type, f.Count, r.Records))
	}
	for _, f := range r.Missing {
		if f.Count == f.Of {
			parts = append(parts, fmt.Sprintf("stopped arriving %s (missing in all %d)", f.Path, f.Of))
		} else {
			parts = append(parts, fmt.Sprintf("missing %s in %d of %d", f.Path, f.Count, f.Of))
		}
	}
	for _, f := range r.Retyped {
		parts = append(parts, fmt.Sprintf("retyped %s as %s (want %s) in %d", f.Path, f.Type, f.Want, f.Count))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// Log logs a report that drifted as a warning "schema drift", naming the
// entity, every drifted field and how many of each kind.
func Log(ctx context.Context, logger *slog.Logger, entity string, r Report) {
	if r.Drifted() {
		logger.WarnContext(ctx, "schema drift", "entity", entity, "drift", r.String(),
			"added", len(r.Added), "missing", len(r.Missing), "retyped", len(r.Retyped))
	}
}
