package state

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/model"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	cases := [][]Entry{
		nil,
		{{CartID: 1, Fingerprint: 0xdeadbeefcafef00d, Day: 18323}},
		{{CartID: 1, Day: -5}, {CartID: 2, Fingerprint: 1}, {CartID: 1 << 40, Fingerprint: ^model.Fingerprint(0), Day: 1 << 30}},
	}
	for _, entries := range cases {
		got, err := Decode(Encode(entries))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			entries = []Entry{}
		}
		if diff := cmp.Diff(entries, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestDecodeRejectsCorruptState(t *testing.T) {
	t.Parallel()
	good := Encode([]Entry{{CartID: 1, Day: 1}, {CartID: 2, Day: 2}})
	for name, b := range map[string][]byte{
		"empty":      nil,
		"bad header": append([]byte("JSON{\n"), good[6:]...),
		"truncated":  good[:len(good)-3],
		"trailing":   append(append([]byte{}, good...), 0),
		"huge count": append([]byte(magic), 0xff, 0xff, 0xff, 0xff, 0x0f),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error = %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzDecode: the state object is read back from storage, so any bytes must
// either decode into sorted, unique ids that re-encode identically, or fail
// with ErrCorrupt, without panicking or allocating without bound.
func FuzzDecode(f *testing.F) {
	f.Add(Encode([]Entry{{CartID: 3, Fingerprint: 9, Day: 7}, {CartID: 8}}))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		for i := 1; i < len(entries); i++ {
			if entries[i].CartID <= entries[i-1].CartID {
				t.Fatalf("ids not increasing at %d", i)
			}
		}
		if again, err := Decode(Encode(entries)); err != nil || !cmp.Equal(again, entries) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

func TestStoreCommitsWithGenerationPreconditions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(laketest.New(t, "lake", nil).Bucket("lake"), "state/cart-poller.state")

	entries, gen, err := s.Load(ctx)
	if err != nil || gen != 0 || len(entries) != 0 {
		t.Fatalf("initial Load = %v, %d, %v", entries, gen, err)
	}
	want := []Entry{{CartID: 1, Fingerprint: 42, Day: 1}}
	gen1, err := s.Commit(ctx, want, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A second poll that also started from "no state" loses.
	if _, err := s.Commit(ctx, nil, 0); !errors.Is(err, ErrConflict) {
		t.Errorf("racing first commit: %v, want ErrConflict", err)
	}
	got, gen, err := s.Load(ctx)
	if err != nil || gen != gen1 || !cmp.Equal(want, got) {
		t.Errorf("Load = %v, %d, %v; want %v at %d", got, gen, err, want, gen1)
	}
	gen2, err := s.Commit(ctx, append(want, Entry{CartID: 2}), gen1)
	if err != nil {
		t.Fatal(err)
	}
	// A poll that read generation gen1 and commits after gen2 loses.
	if _, err := s.Commit(ctx, want, gen1); !errors.Is(err, ErrConflict) {
		t.Errorf("stale commit: %v, want ErrConflict", err)
	}
	if _, gen, _ := s.Load(ctx); gen != gen2 {
		t.Errorf("generation %d, want %d", gen, gen2)
	}
}

func TestSortUniqueKeepsFirstOfRepeatedIDs(t *testing.T) {
	t.Parallel()
	got := SortUnique([]Entry{{CartID: 3, Day: 1}, {CartID: 1}, {CartID: 3, Day: 2}, {CartID: 2}})
	want := []Entry{{CartID: 1}, {CartID: 2}, {CartID: 3, Day: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := Decode(Encode(got)); err != nil {
		t.Error(err)
	}
}
