package state

import (
	"context"
	"errors"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
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

// TestLoadRecoversFromAnUnreadableGeneration: a state object that does not
// decode is read from the newest earlier generation that does, when the
// bucket keeps versions, and the next commit replaces the unreadable one;
// without such a version Load fails with ErrCorrupt.
func TestLoadRecoversFromAnUnreadableGeneration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const name = "state/cart-poller.state"
	good := []Entry{{CartID: 1, Fingerprint: 42, Day: 1}, {CartID: 2, Fingerprint: 7, Day: 2}}
	cases := []struct {
		name       string
		versioning bool
		// bodies are written in order; the last is the current generation.
		bodies      [][]byte
		want        []Entry
		wantUsed    int // index in bodies of the generation read, -1: none
		wantCorrupt bool
	}{
		{name: "an earlier good version", versioning: true,
			bodies: [][]byte{Encode(good[:1]), Encode(good), []byte("garbage"), []byte("SLCS1\n\x05")},
			want:   good, wantUsed: 1},
		{name: "no earlier good version", versioning: true,
			bodies: [][]byte{[]byte("garbage"), []byte("more garbage")}, wantUsed: -1, wantCorrupt: true},
		{name: "a bucket without versions", versioning: false,
			bodies: [][]byte{Encode(good), []byte("garbage")}, wantUsed: -1, wantCorrupt: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := fakestorage.NewServer(nil)
			t.Cleanup(srv.Stop)
			srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "lake", VersioningEnabled: tc.versioning})
			bucket := srv.Client().Bucket("lake")
			var gens []int64
			for _, b := range tc.bodies {
				w := bucket.Object(name).NewWriter(ctx)
				if _, err := w.Write(b); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				gens = append(gens, w.Attrs().Generation)
			}
			s := NewStore(bucket, name)
			var told []int64
			s.Recovered = func(unreadable, used int64, err error) {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("Recovered told %v, want ErrCorrupt", err)
				}
				told = append(told, unreadable, used)
			}
			got, gen, err := s.Load(ctx)
			current := gens[len(gens)-1]
			if tc.wantCorrupt {
				if !errors.Is(err, ErrCorrupt) || told != nil || gen != current {
					t.Fatalf("Load = %v, %d, %v; told %v: want ErrCorrupt at the unreadable generation %d and no recovery", got, gen, err, told, current)
				}
				return
			}
			if err != nil || gen != current || !cmp.Equal(tc.want, got) {
				t.Fatalf("Load = %v, %d, %v; want %v at the current generation %d", got, gen, err, tc.want, current)
			}
			if wantTold := []int64{current, gens[tc.wantUsed]}; !cmp.Equal(wantTold, told) {
				t.Errorf("Recovered told %v, want %v", told, wantTold)
			}
			if _, err := s.Commit(ctx, got, gen); err != nil {
				t.Fatalf("commit over the unreadable generation: %v", err)
			}
			if again, _, err := s.Load(ctx); err != nil || !cmp.Equal(tc.want, again) {
				t.Errorf("after the commit, Load = %v, %v", again, err)
			}
		})
	}
}
