package source

import (
	"errors"
	"fmt"
)

// DefaultMaxShrink is the default of Config.MaxShrink (SOURCE_MAX_SHRINK).
const DefaultMaxShrink = 0.5

// ErrCollapsed reports a listing that came back empty, or much smaller than
// the last one accepted: what an outage that still answers 200 looks like.
// Nothing is published or deleted on its word; an explicit allow_shrink in
// the function's request lets a real shrink through.
var ErrCollapsed = errors.New("listing collapsed")

// CheckShrink returns an error wrapping ErrCollapsed when a listing of what
// returned got records where the last accepted one had before: got is 0, or
// fell by more than maxShrink (a fraction) of before. before < 0 means there
// is nothing to compare with, which only an empty listing fails.
func CheckShrink(what string, before, got int64, maxShrink float64) error {
	switch {
	case got == 0 && before > 0:
		return fmt.Errorf("%w: %s came back empty where the last accepted listing had %d", ErrCollapsed, what, before)
	case got == 0:
		return fmt.Errorf("%w: %s came back empty", ErrCollapsed, what)
	case before > 0 && float64(before-got) > maxShrink*float64(before):
		return fmt.Errorf("%w: %s fell from %d to %d records (-%.0f%%), more than SOURCE_MAX_SHRINK allows (%.0f%%)",
			ErrCollapsed, what, before, got, 100*float64(before-got)/float64(before), 100*maxShrink)
	}
	return nil
}
