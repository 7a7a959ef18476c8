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
// kept got records where the last accepted one had before: got is 0, or fell
// by more than maxShrink (a fraction) of before. sent is how many records the
// source sent, got of them accepted; the error says when the others, not
// the source, made the listing small. before < 0 means there is nothing to
// compare with, which only an empty listing fails.
func CheckShrink(what string, before, sent, got int64, maxShrink float64) error {
	where := ""
	if before > 0 {
		where = fmt.Sprintf(" where the last accepted listing had %d", before)
	}
	switch {
	case got == 0 && sent > 0:
		return fmt.Errorf("%w: %s kept no record%s: the %d the source sent were all rejected as invalid", ErrCollapsed, what, where, sent)
	case got == 0:
		return fmt.Errorf("%w: %s came back empty%s", ErrCollapsed, what, where)
	case before > 0 && float64(before-got) > maxShrink*float64(before):
		err := fmt.Errorf("%w: %s fell from %d to %d records (-%.0f%%), more than SOURCE_MAX_SHRINK allows (%.0f%%)",
			ErrCollapsed, what, before, got, 100*float64(before-got)/float64(before), 100*maxShrink)
		if sent > got {
			err = fmt.Errorf("%w; the source sent %d, and %d were rejected as invalid", err, sent, sent-got)
		}
		return err
	}
	return nil
}
