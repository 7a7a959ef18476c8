package lake

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// RejectLine is the quarantined form of an invalid element: the reason and the
// element itself, with any password-like or e-mail field removed first (the
// lake never holds either; a valid user keeps only the e-mail's pseudonym).
func RejectLine(raw json.RawMessage, reason error) []byte {
	b, err := json.Marshal(struct {
		Reason string          `json:"reason"`
		Record json.RawMessage `json:"record"`
	}{reason.Error(), scrub(raw)})
	if err != nil { // cannot happen: raw came out of a JSON decoder
		b, _ = json.Marshal(map[string]string{"reason": reason.Error()})
	}
	return b
}

// scrub removes every object key that looks like a password or an e-mail
// address, at any depth.
func scrub(raw json.RawMessage) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage(`null`)
	}
	b, err := json.Marshal(scrubValue(v))
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}

func scrubValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if lk := strings.ToLower(k); strings.Contains(lk, "password") || strings.Contains(lk, "email") {
				delete(x, k)
				continue
			}
			x[k] = scrubValue(val)
		}
	case []any:
		for i := range x {
			x[i] = scrubValue(x[i])
		}
	}
	return v
}

// Quarantine collects the invalid records of one entity for a day and, on
// Commit, publishes them at RejectObject like any snapshot (unchanged content
// is not rewritten). Nothing is staged until the first record is added.
type Quarantine struct {
	w      *Writer
	object string
	stamp  Stamp
	snap   *Snapshot
	// reasons counts the records added by the kind of their reason.
	reasons map[string]int64
}

// Quarantine returns an empty quarantine for entity's records of stamp.Day.
func (w *Writer) Quarantine(entity string, stamp Stamp) *Quarantine {
	return &Quarantine{w: w, object: RejectObject(entity, stamp.Day), stamp: stamp}
}

// Add quarantines one raw element with the reason it was rejected.
func (q *Quarantine) Add(ctx context.Context, raw json.RawMessage, reason error) error {
	if q.snap == nil {
		q.snap = q.w.Begin(ctx, q.object, q.stamp)
	}
	if q.reasons == nil {
		q.reasons = map[string]int64{}
	}
	kind := ReasonKind(reason)
	if _, ok := q.reasons[kind]; !ok && len(q.reasons) >= MaxReasonKinds {
		kind = OtherReasons
	}
	q.reasons[kind]++
	return q.snap.Add(RejectLine(raw, reason))
}

// Reasons returns how many records were quarantined per kind of reason (see
// ReasonKind), or nil when none were.
func (q *Quarantine) Reasons() map[string]int64 { return q.reasons }

// MaxReasonKinds bounds the kinds of reason a Quarantine counts apart; the
// others are counted under OtherReasons.
const MaxReasonKinds = 50

// OtherReasons is the kind under which reasons beyond MaxReasonKinds count.
const OtherReasons = "(other reasons)"

var (
	reasonIndex  = regexp.MustCompile(`\[[0-9]+\]`)
	reasonRecord = regexp.MustCompile(`\b(record|element) [0-9]+`)
	reasonSize   = regexp.MustCompile(`\b[0-9]+(\.[0-9]+)? ?(bytes|B|KiB|MiB|GiB)\b`)
)

// ReasonKind is a rejection reason with what varies from record to record
// (array positions, record numbers, sizes) taken out, so that records
// rejected for the same rule count together: "products[2].quantity fails
// gt=0" is "products[].quantity fails gt=0". Reasons name fields and rules,
// never values, so a kind holds no personal data.
func ReasonKind(reason error) string {
	s := reasonIndex.ReplaceAllString(reason.Error(), "[]")
	s = reasonRecord.ReplaceAllString(s, "$1 #")
	s = reasonSize.ReplaceAllString(s, "# $2")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// TopReasons lists the n most frequent kinds of reason in reasons (as
// Quarantine.Reasons counts them), each as "count kind" with prefixes
// trimmed from the kind's start in turn, then how many kinds it left out:
// "5 price fails gte=0; 2 id fails gt=0; 1 more kind(s) of reason".
func TopReasons(reasons map[string]int64, n int, prefixes ...string) string {
	kinds := slices.Collect(maps.Keys(reasons))
	slices.SortFunc(kinds, func(a, b string) int {
		return cmp.Or(cmp.Compare(reasons[b], reasons[a]), strings.Compare(a, b))
	})
	var out []string
	for i, kind := range kinds {
		if i == n {
			out = append(out, fmt.Sprintf("%d more kind(s) of reason", len(kinds)-n))
			break
		}
		text := kind
		for _, p := range prefixes {
			text = strings.TrimPrefix(text, p)
		}
		out = append(out, fmt.Sprintf("%d %s", reasons[kind], text))
	}
	return strings.Join(out, "; ")
}

// Commit publishes the quarantined records and returns their object, or ""
// when none were added.
func (q *Quarantine) Commit(ctx context.Context) (string, error) {
	if q.snap == nil {
		return "", nil
	}
	res, err := q.snap.Commit(ctx)
	if err != nil {
		return "", fmt.Errorf("write rejects %s: %w", q.object, err)
	}
	return res.Object, nil
}

// Abort discards the staged records, if any; it is safe after Commit.
func (q *Quarantine) Abort() {
	if q.snap != nil {
		q.snap.Abort()
	}
}
