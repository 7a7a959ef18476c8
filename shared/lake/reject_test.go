package lake

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReasonKind(t *testing.T) {
	t.Parallel()
	cases := []struct{ reason, want string }{
		{"invalid record: products[2].quantity fails gt=0", "invalid record: products[].quantity fails gt=0"},
		{"invalid record: products[12].quantity fails gt=0; id fails gt=0", "invalid record: products[].quantity fails gt=0; id fails gt=0"},
		{"record 6 is 20000 bytes, over the 16777216-byte limit (SOURCE_MAX_RECORD_BYTES)", "record # is # bytes, over the 16777216-byte limit (SOURCE_MAX_RECORD_BYTES)"},
		{"invalid record: decode users: email fails email", "invalid record: decode users: email fails email"},
	}
	for _, tc := range cases {
		if got := ReasonKind(errors.New(tc.reason)); got != tc.want {
			t.Errorf("ReasonKind(%q) = %q, want %q", tc.reason, got, tc.want)
		}
	}
}

func TestQuarantineCountsReasonsByKind(t *testing.T) {
	t.Parallel()
	w, _ := newTestWriter(t)
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	q := w.Quarantine("carts", Stamp{Day: day, RunID: "r", ExtractedAt: day})
	defer q.Abort()
	if q.Reasons() != nil {
		t.Fatal("an empty quarantine counts reasons")
	}
	ctx := context.Background()
	for i := range MaxReasonKinds + 5 {
		for range 2 {
			if err := q.Add(ctx, []byte(`{}`), fmt.Errorf("rule %c%c fails", 'a'+i/26, 'a'+i%26)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 3 {
		_ = q.Add(ctx, nil, fmt.Errorf("products[%d].quantity fails gt=0", i))
	}
	got := q.Reasons()
	if len(got) != MaxReasonKinds+1 || got[OtherReasons] != 2*5+3 || got["rule aa fails"] != 2 {
		t.Errorf("reasons = %v", got)
	}
	if diff := cmp.Diff(int64(2*(MaxReasonKinds+5)+3), sum(got)); diff != "" {
		t.Error(diff)
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
