package model

import (
	"cmp"
	"fmt"
	"slices"
)

// ErrRepeated is wrapped by the error that rejects a record whose id its
// listing has already shown. It wraps ErrInvalid.
var ErrRepeated = fmt.Errorf("%w: id listed again in the same listing; the first listing is kept", ErrInvalid)

// Repeated returns the error that quarantines a later listing of an id: a
// listing must show each id once, and with two versions of a record no
// reader could tell which is current, so the first one counts.
func Repeated(entity string) error {
	return fmt.Errorf("%s: %w", entity, ErrRepeated)
}

// ReasonPrefixes are what every rejection reason of entity's records may
// start with before what is particular to it ("carts: " of Repeated, then
// ErrInvalid's text): the prefixes lake.TopReasons trims to keep a message
// short.
func ReasonPrefixes(entity string) []string {
	return []string{entity + ": ", ErrInvalid.Error() + ": "}
}

// Listing remembers the ids one listing has shown, to tell their first
// listing from a repeat. Sources list in id order, so it keeps the ids that
// come in order in sorted blocks, 8 bytes an id and nothing copied as they
// grow, and only the others in a map. The zero value is ready to use.
type Listing struct {
	inOrder [][]int64 // full blocks of listingBlock ids, then the last one
	other   map[int64]struct{}
}

const listingBlock = 4096

// Repeat records id and reports whether the listing had shown it before.
func (l *Listing) Repeat(id int64) bool {
	if _, ok := l.other[id]; ok {
		return true
	}
	n := len(l.inOrder)
	if n == 0 || id > l.last() {
		if n == 0 || len(l.inOrder[n-1]) == listingBlock {
			l.inOrder = append(l.inOrder, make([]int64, 0, listingBlock))
			n++
		}
		l.inOrder[n-1] = append(l.inOrder[n-1], id)
		return false
	}
	// The first block whose last id is at least id holds it, if any does.
	b, _ := slices.BinarySearchFunc(l.inOrder, id, func(block []int64, id int64) int {
		return cmp.Compare(block[len(block)-1], id)
	})
	if _, found := slices.BinarySearch(l.inOrder[b], id); found {
		return true
	}
	if l.other == nil {
		l.other = map[int64]struct{}{}
	}
	l.other[id] = struct{}{}
	return false
}

func (l *Listing) last() int64 {
	block := l.inOrder[len(l.inOrder)-1]
	return block[len(block)-1]
}
