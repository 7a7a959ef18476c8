package model

import (
	"math/rand/v2"
	"testing"
)

func TestListingTellsRepeats(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ids  []int64
		want []bool // Repeat's answer for each id
	}{
		{"in order", []int64{1, 2, 3, 10}, []bool{false, false, false, false}},
		{"repeat of the last", []int64{1, 2, 2}, []bool{false, false, true}},
		{"repeat of an earlier one", []int64{1, 2, 3, 1}, []bool{false, false, false, true}},
		{"out of order, then repeated", []int64{5, 3, 7, 3, 5}, []bool{false, false, false, true, true}},
		{"out of order above the last in order", []int64{1, 9, 4, 9, 4}, []bool{false, false, false, true, true}},
		{"an id first seen out of order, listed again after the order moved past it", []int64{1, 10, 5, 20, 5}, []bool{false, false, false, false, true}},
		{"negative and zero ids", []int64{0, -1, 0, -1}, []bool{false, false, true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var l Listing
			for i, id := range tc.ids {
				if got := l.Repeat(id); got != tc.want[i] {
					t.Errorf("Repeat(%d) at %d = %v, want %v", id, i, got, tc.want[i])
				}
			}
		})
	}
}

// TestListingAgreesWithASet compares Listing with a map on random listings,
// mostly in order with some ids out of order and some repeated.
func TestListingAgreesWithASet(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		var l Listing
		seen := map[int64]bool{}
		next := int64(0)
		for range 3 * listingBlock {
			var id int64
			switch r.IntN(4) {
			case 0:
				id = r.Int64N(next + 1)
			default:
				next += r.Int64N(3)
				id = next
			}
			if got, want := l.Repeat(id), seen[id]; got != want {
				t.Fatalf("Repeat(%d) = %v, want %v", id, got, want)
			}
			seen[id] = true
		}
	}
}
