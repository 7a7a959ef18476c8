// Package lake writes and names the objects of Shoplake's raw bucket: daily
// NDJSON snapshots under raw/, the cart event archive under
// raw/cart_events/, quarantined records under rejects/, and the scratch
// objects a snapshot is staged in under tmp/.
package lake

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// DateLayout is the layout of the dt= partition in object names.
const DateLayout = "2006-01-02"

// Prefixes of the raw bucket's areas.
const (
	RawPrefix = "raw/"
	// CartEventsArchivePrefix holds every cart event published, written by
	// the cart-events Cloud Storage subscription (locally, by the runner) as
	// raw/cart_events/dt=YYYY-MM-DD/<hh_mm_ss>Z_<id>.jsonl: one message body a
	// line. It is the lake's record of the stream, replayed to rebuild
	// bq_raw.cart_events; LoadRawObject ignores it.
	CartEventsArchivePrefix = RawPrefix + "cart_events/"
	RejectsPrefix           = "rejects/"
	TmpPrefix               = "tmp/"
)

// The cart event archive's object names, as the cart-events Cloud Storage
// subscription writes them (terraform/pubsub.tf): its filename_prefix,
// filename_datetime_format and filename_suffix. The subscription puts "_"
// and a unique id between the time and the suffix.
const (
	CartEventsArchiveFilePrefix     = CartEventsArchivePrefix + "dt="
	CartEventsArchiveDatetimeFormat = "YYYY-MM-DD/hh_mm_ssZ"
	CartEventsArchiveSuffix         = ".jsonl"
)

// CartEventsArchiveName is the name the Cloud Storage subscription gives the
// archive object it starts at t (UTC), with id its unique part.
func CartEventsArchiveName(t time.Time, id string) string {
	t = t.UTC()
	return CartEventsArchiveFilePrefix + t.Format(DateLayout) + "/" + t.Format("15_04_05") + "Z_" + id + CartEventsArchiveSuffix
}

// ErrNotRawObject reports an object name that is not a raw snapshot.
var ErrNotRawObject = errors.New("not a raw snapshot object")

// RawObject is the name of an entity's snapshot for a day:
// raw/<entity>/dt=YYYY-MM-DD/<entity>.jsonl.
func RawObject(entity string, day time.Time) string {
	return fmt.Sprintf("%s%s/dt=%s/%s.jsonl", RawPrefix, entity, day.Format(DateLayout), entity)
}

// RejectObject is the name of an entity's quarantined records for a day:
// rejects/<entity>/dt=YYYY-MM-DD/<entity>.jsonl.
func RejectObject(entity string, day time.Time) string {
	return fmt.Sprintf("%s%s/dt=%s/%s.jsonl", RejectsPrefix, entity, day.Format(DateLayout), entity)
}

var rawName = regexp.MustCompile(`^raw/([a-z][a-z0-9_]*)/dt=(\d{4}-\d{2}-\d{2})/([a-z][a-z0-9_]*)\.jsonl$`)

// ParseRawObject splits a raw snapshot's name into its entity and day. Names
// that do not follow the layout return an error wrapping ErrNotRawObject.
func ParseRawObject(name string) (entity string, day time.Time, err error) {
	m := rawName.FindStringSubmatch(name)
	if m == nil {
		return "", time.Time{}, fmt.Errorf("%w: %q does not match raw/<entity>/dt=YYYY-MM-DD/<entity>.jsonl", ErrNotRawObject, name)
	}
	if m[1] != m[3] {
		return "", time.Time{}, fmt.Errorf("%w: %q names entity %q in its folder and %q in its file", ErrNotRawObject, name, m[1], m[3])
	}
	day, err = time.Parse(DateLayout, m[2])
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %q has an invalid date %q", ErrNotRawObject, name, m[2])
	}
	return m[1], day, nil
}
