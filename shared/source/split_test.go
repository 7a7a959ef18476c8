package source

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func splitAll(r io.Reader) ([]string, error) {
	sp := newSplitter(r, 0)
	var out []string
	for {
		el, err := sp.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(el))
	}
}

func TestSplitter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		want     []string
		wantErr  error
	}{
		{name: "empty", in: ` [ ] `, want: nil},
		{name: "objects", in: `[{"a":1},{"b":[1,{"c":"}"}]}]`, want: []string{`{"a":1}`, `{"b":[1,{"c":"}"}]}`}},
		{name: "strings with brackets and escapes", in: `["a]\"b", "\\", "{"]`, want: []string{`"a]\"b"`, `"\\"`, `"{"`}},
		{name: "scalars and white space", in: "[ 1 ,\n-2.5e3,\ttrue , null]", want: []string{"1", "-2.5e3", "true", "null"}},
		{name: "nested arrays", in: `[[1,[2]],[]]`, want: []string{`[1,[2]]`, `[]`}},
		{name: "not an array", in: `{"a":1}`, wantErr: ErrNotArray},
		{name: "empty body", in: ``, wantErr: ErrNotArray},
		{name: "trailing comma", in: `[1,]`, wantErr: ErrMalformed},
		{name: "missing comma", in: `[1 2]`, wantErr: ErrMalformed},
		{name: "unbalanced", in: `[{"a":1]}]`, wantErr: ErrMalformed},
		{name: "truncated in string", in: `[{"a":"b`, wantErr: io.ErrUnexpectedEOF},
		{name: "truncated after element", in: `[{"a":1}`, wantErr: io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		for _, oneByte := range []bool{false, true} {
			name := tc.name
			if oneByte {
				name += "/one byte per read"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var r io.Reader = strings.NewReader(tc.in)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				got, err := splitAll(r)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("error = %v, want %v", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("elements (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestSplitterGrowsForLargeElements(t *testing.T) {
	t.Parallel()
	big := `"` + strings.Repeat("x", 1<<20) + `"`
	got, err := splitAll(strings.NewReader(`[` + big + `,1]`))
	if err != nil || len(got) != 2 || got[0] != big {
		t.Fatalf("got %d elements, %v", len(got), err)
	}
}

func TestSplitterSkipsOversizedElements(t *testing.T) {
	t.Parallel()
	const limit = 1024
	cases := []struct {
		name string
		big  string
	}{
		{"object", `{"a":"` + strings.Repeat("x", 5000) + `","b":[1,{"c":"}"}]}`},
		{"string with escapes", `"` + strings.Repeat(`\"`, 3000) + `"`},
		{"scalar", strings.Repeat("1", 4000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := `[{"id":1}, ` + tc.big + ` ,{"id":3}]`
			sp := newSplitter(iotest.HalfReader(strings.NewReader(in)), limit)
			var got []string
			var big *OversizedError
			for {
				el, err := sp.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if errors.As(err, &big) {
					got = append(got, "oversized")
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(el))
			}
			if diff := cmp.Diff([]string{`{"id":1}`, "oversized", `{"id":3}`}, got); diff != "" {
				t.Fatalf("elements (-want +got):\n%s", diff)
			}
			if big.Index != 1 || big.Size != int64(len(tc.big)) || big.Limit != limit {
				t.Errorf("oversized = %+v, want index 1, size %d, limit %d", *big, len(tc.big), limit)
			}
		})
	}
}

// FuzzSplitter checks the splitter against encoding/json: on any input it
// does not panic, and wherever encoding/json reads a valid array, the
// splitter yields exactly the same elements, byte for byte.
func FuzzSplitter(f *testing.F) {
	for _, s := range []string{`[]`, `[{"a":"]"},2]`, `["\\\""]`, `[1,]`, `[[[`, ` [ true , {"x":[1,{"y":null}]} ] `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := splitAll(iotest.HalfReader(strings.NewReader(in)))
		var std []json.RawMessage
		if json.Unmarshal([]byte(in), &std) != nil || strings.TrimSpace(in) == "null" {
			return
		}
		if err != nil {
			t.Fatalf("encoding/json reads %q but the splitter fails: %v", in, err)
		}
		want := make([]string, len(std))
		for i, r := range std {
			want[i] = string(r)
		}
		if len(want) == 0 {
			want = nil
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("elements of %q (-encoding/json +splitter):\n%s", in, diff)
		}
	})
}
