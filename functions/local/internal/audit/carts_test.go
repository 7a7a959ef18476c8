package audit

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/state"
)

func TestAuditCarts(t *testing.T) {
	t.Parallel()
	e := func(id int64, fp model.Fingerprint) state.Entry {
		return state.Entry{CartID: id, Fingerprint: fp, Day: 19000}
	}
	quarantined := model.CartEventID(4, 40)
	cases := []struct {
		name        string
		state, live []state.Entry
		want        CartAudit
		wantNext    []state.Entry
	}{
		{name: "nothing yet", want: CartAudit{}, wantNext: []state.Entry{}},
		{
			name:  "agree",
			state: []state.Entry{e(1, 10), e(2, 20)}, live: []state.Entry{e(1, 10), e(2, 20)},
			want:     CartAudit{State: 2, Live: 2},
			wantNext: []state.Entry{e(1, 10), e(2, 20)},
		},
		{
			name:  "events lost: none held, an older version held",
			state: []state.Entry{e(1, 10), e(2, 21), e(3, 30)}, live: []state.Entry{e(2, 20), e(3, 30)},
			want:     CartAudit{State: 3, Live: 2, Missing: 1, Differ: 1, Examples: []int64{1, 2}},
			wantNext: []state.Entry{e(2, 20), e(3, 30)},
		},
		{
			name:  "state lost",
			state: nil, live: []state.Entry{e(1, 10), e(2, 20)},
			want:     CartAudit{Live: 2, Stray: 2, Examples: []int64{1, 2}},
			wantNext: []state.Entry{e(1, 10), e(2, 20)},
		},
		{
			name:  "a quarantined version is accounted for",
			state: []state.Entry{e(3, 30), e(4, 40)}, live: []state.Entry{e(3, 30), e(4, 39)},
			want:     CartAudit{State: 2, Live: 2, Quarantined: 1},
			wantNext: []state.Entry{e(3, 30), e(4, 40)},
		},
		{
			name:     "at most five examples",
			state:    []state.Entry{e(1, 1), e(2, 2), e(3, 3), e(4, 4), e(5, 5), e(6, 6), e(7, 7)},
			want:     CartAudit{State: 7, Missing: 7, Examples: []int64{1, 2, 3, 4, 5}},
			wantNext: []state.Entry{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, next := auditCarts(tc.state, tc.live, func(id string) bool { return id == quarantined })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantNext, next); diff != "" {
				t.Errorf("state that follows the warehouse (-want +got):\n%s", diff)
			}
			if got.Agrees() != (tc.want.Missing == 0 && tc.want.Differ == 0 && tc.want.Stray == 0) {
				t.Errorf("Agrees() = %v", got.Agrees())
			}
		})
	}
}

// TestCartLedgerRebuildsAnUnreadableState: a state object that does not
// decode counts as no cart, and realign replaces it with the warehouse's
// live carts; the next audit agrees and commits nothing.
func TestCartLedgerRebuildsAnUnreadableState(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bucket := laketest.New(t, names.Bucket, map[string]string{names.StateObject: "not a cart state"}).Bucket(names.Bucket)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	for _, q := range []string{
		"create schema bq_raw",
		"create table bq_raw.cart_events (event_id varchar, event_type varchar, cart_id bigint, cart_date timestamp, fingerprint varchar, published_at timestamp)",
		"create table bq_raw.cart_events_rejected (event_id varchar)",
		`insert into bq_raw.cart_events values
			('a', 'cart.upserted', 1, timestamp '2020-03-02 00:00:00', '000000000000000a', timestamp '2026-01-01 10:00:00'),
			('b', 'cart.upserted', 2, timestamp '2020-03-01 00:00:00', '000000000000000b', timestamp '2026-01-01 10:00:00'),
			('c', 'cart.deleted', 2, null, '000000000000000c', timestamp '2026-01-01 11:00:00'),
			('d', 'cart.upserted', 3, timestamp '2020-03-03 00:00:00', '000000000000000d', timestamp '2026-01-01 10:00:00')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ledger := NewLedger(bucket, db)

	var out strings.Builder
	a, err := ledger.Realign(ctx, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Realigned || a.Stray != 2 || !strings.Contains(a.Unreadable, "corrupt cart state") {
		t.Errorf("audit %+v, want the unreadable state realigned with the 2 live carts", a)
	}
	if want := names.StateObject + " is unreadable"; !strings.Contains(out.String(), want) {
		t.Errorf("realign said %q, want %q", out.String(), want)
	}
	got, gen, err := state.NewStore(bucket, names.StateObject).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []state.Entry{{CartID: 1, Fingerprint: 0xa, Day: 18323}, {CartID: 3, Fingerprint: 0xd, Day: 18324}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}

	out.Reset()
	if a, err := ledger.Realign(ctx, &out); err != nil || a.Realigned || !a.Agrees() || out.Len() > 0 {
		t.Errorf("second realign: %+v, %v, said %q; want agreement and nothing done", a, err, out.String())
	}
	if _, again, _ := state.NewStore(bucket, names.StateObject).Load(ctx); again != gen {
		t.Errorf("state generation %d, then %d: an agreeing audit committed", gen, again)
	}
	if _, err := ledger.Check(ctx, 0); err != nil {
		t.Errorf("check: %v", err)
	}
}
