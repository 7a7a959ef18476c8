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
	root   *level
	fields []*known // by id
}

// level is the fields of one kind of JSON object: the record itself, a
// nested object, or the elements of an array.
type level struct {
	byName map[string]*known
	list   []*known
}

// known is one field of the model.
type known struct {
	id   int
	path string
	typ  string
	// child holds the fields of its object, or of its array's elements.
	child *level
	// ignored is set for a field the source sends and the model drops on
	// purpose: of any type, never reported missing.
	ignored bool
	// bit is the field's bit in its level's presence mask.
	bit uint64
}

// maxLevelFields is how many fields one level of a model may have (the bits
// of a presence mask).
const maxLevelFields = 64

// Of returns the schema of the JSON encoding of v's type (a struct or a
// pointer to one), read from its json tags. ignored names fields of the
// record the source sends and the model drops on purpose; derived names
// model fields the source does not send (computed at ingestion, such as a
// pseudonym).
func Of(v any, ignored, derived []string) Schema {
	var s Schema
	skip := map[string]bool{}
	for _, f := range derived {
		skip[f] = true
	}
	s.root = s.level(reflect.TypeOf(v), "", 0, skip)
	if s.root == nil {
		s.root = &level{byName: map[string]*known{}}
	}
	for _, f := range ignored {
		s.add(s.root, f, &known{path: f, typ: TypeAny, ignored: true})
	}
	return s
}

func (s *Schema) level(t reflect.Type, prefix string, depth int, derived map[string]bool) *level {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || depth >= MaxDepth {
		return nil
	}
	l := &level{byName: map[string]*known{}}
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
		if derived[path] {
			continue
		}
		typ, elem := jsonType(f.Type)
		k := &known{path: path, typ: typ}
		switch typ {
		case TypeObject:
			k.child = s.level(f.Type, path+".", depth+1, derived)
		case TypeArray:
			k.child = s.level(elem, path+"[].", depth+1, derived)
		}
		s.add(l, name, k)
	}
	return l
}

func (s *Schema) add(l *level, name string, k *known) {
	if len(l.list) >= maxLevelFields {
		panic(fmt.Sprintf("drift: %s: a model level has more than %d fields", k.path, maxLevelFields))
	}
	k.id, k.bit = len(s.fields), 1<<len(l.list)
	l.list = append(l.list, k)
	l.byName[name] = k
	s.fields = append(s.fields, k)
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// jsonType is the JSON type a Go type encodes as, and for a slice its
// element type.
func jsonType(t reflect.Type) (string, reflect.Type) {
	for {
		if t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) {
			return TypeAny, nil
		}
		if t.Kind() != reflect.Pointer {
			break
		}
		t = t.Elem()
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
// It reads each record's bytes once, without decoding values, and is not
// safe for concurrent use.
type Tracker struct {
	schema  Schema
	records int64
	// parents counts, per known field, the objects that could hold it (its
	// parent was present); present those that did.
	parents, present []int64
	unknown          map[string]*Field
	retyped          map[int]*Field
}

// NewTracker returns a Tracker for records of the schema.
func NewTracker(s Schema) *Tracker {
	return &Tracker{schema: s, parents: make([]int64, len(s.fields)), present: make([]int64, len(s.fields)),
		unknown: map[string]*Field{}, retyped: map[int]*Field{}}
}

// Observe counts one raw record. A record that is not a JSON object is left
// to the model's validation and not counted here.
func (t *Tracker) Observe(raw []byte) {
	if !json.Valid(raw) {
		return
	}
	s := scanner{b: raw, t: t}
	s.ws()
	if s.peek() != '{' {
		return
	}
	t.records++
	s.object(t.schema.root, "", 0)
}

// scanner walks one valid JSON text, counting its fields into a Tracker.
type scanner struct {
	b []byte
	i int
	t *Tracker
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// object reads the object at s.i, whose fields are l's.
func (s *scanner) object(l *level, prefix string, depth int) {
	if depth >= MaxDepth {
		s.skip()
		return
	}
	s.i++ // {
	var seen uint64
	for {
		s.ws()
		c := s.peek()
		if c == ',' {
			s.i++
			s.ws()
			c = s.peek()
		}
		if c != '"' { // '}' or the end
			s.i++
			break
		}
		key := s.str()
		s.ws()
		s.i++ // :
		s.ws()
		typ := kindOf(s.peek())
		k := l.byName[string(key)]
		switch {
		case k == nil:
			s.t.count(s.t.unknown, prefix+unquote(key), typ, "")
		case seen&k.bit != 0: // a repeated key counts once
		case k.ignored:
			seen |= k.bit
		default:
			seen |= k.bit
			s.t.present[k.id]++
			if typ != k.typ && typ != TypeNull && k.typ != TypeAny {
				s.t.retype(k, typ)
				break
			}
			if k.child != nil && typ == TypeObject {
				s.object(k.child, k.path+".", depth+1)
				continue
			}
			if k.child != nil && typ == TypeArray {
				s.array(k.child, k.path+"[].", depth+1)
				continue
			}
		}
		s.skip()
	}
	for _, k := range l.list {
		if !k.ignored {
			s.t.parents[k.id]++
		}
	}
}

// array reads the array at s.i, whose object elements have l's fields.
func (s *scanner) array(l *level, prefix string, depth int) {
	s.i++ // [
	for {
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case ']', 0:
			s.i++
			return
		case '{':
			s.object(l, prefix, depth)
		default:
			s.skip()
		}
	}
}

// str reads the string at s.i and returns its bytes as written, without the
// quotes.
func (s *scanner) str() []byte {
	start := s.i + 1
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return s.b[start : s.i-1]
		}
	}
	return s.b[start:]
}

// skip passes over the value at s.i.
func (s *scanner) skip() {
	switch s.peek() {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for ; s.i < len(s.b); s.i++ {
			switch s.b[s.i] {
			case '"':
				s.str()
				s.i--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.i++
					return
				}
			}
		}
	default:
		for s.i < len(s.b) && !strings.ContainsRune(",}] \t\n\r", rune(s.b[s.i])) {
			s.i++
		}
	}
}

// kindOf is the JSON type of the value that starts with c.
func kindOf(c byte) string {
	switch c {
	case '"':
		return TypeString
	case '{':
		return TypeObject
	case '[':
		return TypeArray
	case 't', 'f':
		return TypeBoolean
	case 'n':
		return TypeNull
	}
	return TypeNumber
}

// unquote is a key as the source meant it (escapes resolved).
func unquote(key []byte) string {
	if !slices.Contains(key, '\\') {
		return string(key)
	}
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &s) != nil {
		return string(key)
	}
	return s
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

func (t *Tracker) retype(k *known, got string) {
	if f, ok := t.retyped[k.id]; ok {
		f.Count++
		return
	}
	t.retyped[k.id] = &Field{Path: k.path, Count: 1, Type: got, Want: k.typ}
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
	for _, k := range t.schema.fields {
		if n := t.parents[k.id] - t.present[k.id]; n > 0 {
			r.Missing = append(r.Missing, Field{Path: k.path, Count: n, Of: t.parents[k.id]})
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
