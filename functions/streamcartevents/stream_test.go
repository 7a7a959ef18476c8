package streamcartevents

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoplake/shoplake/internal/logtest"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// fakeWarehouse stores rows in memory. failInserts makes that many insert
// requests fail; refuse and notAttempted mark rows by cart id.
type fakeWarehouse struct {
	mu           sync.Mutex
	rows         []warehouse.CartEventRow
	rejected     []warehouse.RejectedEvent
	inserts      int
	failInserts  int
	refuse       map[int64]bool
	notAttempted map[int64]int
}

func (w *fakeWarehouse) InsertCartEvents(_ context.Context, rows []warehouse.CartEventRow) ([]error, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inserts++
	if w.failInserts > 0 {
		w.failInserts--
		return nil, errors.New("backend unavailable")
	}
	out := make([]error, len(rows))
	for i, r := range rows {
		switch {
		case w.refuse[r.CartID]:
			out[i] = fmt.Errorf("%w: no such field", warehouse.ErrInvalidData)
		case w.notAttempted[r.CartID] > 0:
			w.notAttempted[r.CartID]--
			out[i] = warehouse.ErrRowNotAttempted
		default:
			w.rows = append(w.rows, r)
		}
	}
	return out, nil
}

func (w *fakeWarehouse) InsertRejectedEvents(_ context.Context, rows []warehouse.RejectedEvent) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rejected = append(w.rejected, rows...)
	return nil
}

func (w *fakeWarehouse) stored(eventID string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, r := range w.rows {
		if r.EventID == eventID {
			n++
		}
	}
	return n
}

type harness struct {
	wh   *fakeWarehouse
	fn   *Function
	logs *logtest.Buffer
	url  string
	// client is the server's own: closing a test server closes the idle
	// connections of http.DefaultTransport, under parallel tests' requests.
	client *http.Client
}

func newHarness(t *testing.T, vars map[string]string) *harness {
	t.Helper()
	env := map[string]string{"PROJECT_ID": "proj", "RAW_BUCKET": "raw"}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := LoadConfig(config.Map(env))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{wh: &fakeWarehouse{refuse: map[int64]bool{}, notAttempted: map[int64]int{}}}
	var logger *slog.Logger
	logger, h.logs = logtest.New()
	h.fn, err = New(cfg, Deps{Warehouse: h.wh, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.fn)
	t.Cleanup(srv.Close)
	h.url, h.client = srv.URL, srv.Client()
	return h
}

var at = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

func cartEvent(cartID int64) model.CartEvent {
	c := &model.Cart{ID: cartID, UserID: 1, Date: "2020-03-02T00:00:00.000Z", Products: []model.CartLine{{ProductID: 1, Quantity: 2}}}
	fp, _ := model.CartFingerprint(c, nil)
	return model.NewUpsertEvent(c, fp, at, at)
}

// envelope is the push request body the subscription delivers for a message.
func envelope(t testing.TB, data []byte, attrs map[string]string, messageID string) []byte {
	t.Helper()
	b, err := json.Marshal(events.PushRequest{
		Message:      events.PushMessage{Data: data, Attributes: attrs, MessageID: messageID, PublishTime: at},
		Subscription: "projects/proj/subscriptions/cart-events-stream",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eventEnvelope(t testing.TB, ev model.CartEvent, messageID string) []byte {
	t.Helper()
	msg, err := events.NewMessage(ev)
	if err != nil {
		t.Fatal(err)
	}
	return envelope(t, msg.Data, msg.Attributes, messageID)
}

// deliver posts a push request body as the push subscription does.
func (h *harness) deliver(t testing.TB, body []byte) int {
	t.Helper()
	resp, err := h.client.Post(h.url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func ok(code int) bool { return code >= 200 && code < 300 }

func TestEveryMessageDeliveredThreeTimesIsOneEventAfterDedup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	want := map[string]bool{}
	for id := int64(1); id <= 7; id++ {
		ev := cartEvent(id)
		want[ev.EventID] = true
		for d := 0; d < 3; d++ {
			if code := h.deliver(t, eventEnvelope(t, ev, fmt.Sprint("m", id))); !ok(code) {
				t.Fatalf("delivery %d of cart %d: status %d", d, id, code)
			}
		}
	}
	got := map[string]bool{}
	for _, r := range h.wh.rows {
		got[r.EventID] = true
	}
	if len(h.wh.rows) != 21 || len(got) != 7 {
		t.Errorf("raw rows %d with %d distinct ids; want 21 and 7", len(h.wh.rows), len(got))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("event %s lost", id)
		}
	}
}

func TestPoisonMessagesAreRejectedAndAcknowledged(t *testing.T) {
	t.Parallel()
	good := cartEvent(1)
	msg, _ := events.NewMessage(good)
	attrs := func(mod func(map[string]string)) map[string]string {
		a := map[string]string{}
		for k, v := range msg.Attributes {
			a[k] = v
		}
		mod(a)
		return a
	}
	withBody := func(mod func(map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(msg.Data, &m)
		mod(m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"invalid JSON", envelope(t, []byte(`{"event_id":`), msg.Attributes, "m1"), "body is not a cart event"},
		{"missing fields", envelope(t, withBody(func(m map[string]any) { delete(m, "cart_id"); delete(m, "fingerprint") }), msg.Attributes, "m2"), "cart_id fails gt=0"},
		{"negative quantity", envelope(t, withBody(func(m map[string]any) { m["products"] = []any{map[string]any{"product_id": 1, "quantity": -3}} }), msg.Attributes, "m3"), "products[0].quantity fails gt=0"},
		{"cart dated on the zero date", envelope(t, withBody(func(m map[string]any) { m["cart_date"] = "0001-01-01T00:00:00Z" }), msg.Attributes, "m3"), "cart_date fails from1970to2099"},
		{"quantity over the bound", envelope(t, withBody(func(m map[string]any) { m["products"] = []any{map[string]any{"product_id": 1, "quantity": 1e13}} }), msg.Attributes, "m3"), "products[0].quantity fails lte=1000000"},
		{"unknown schema version", envelope(t, msg.Data, attrs(func(a map[string]string) { a["schema_version"] = "2" }), "m4"), `unknown schema_version "2"`},
		{"attribute mismatch", envelope(t, msg.Data, attrs(func(a map[string]string) { a["event_id"] = strings.Repeat("0", 64) }), "m5"), "does not match the body"},
		{"unknown field", envelope(t, withBody(func(m map[string]any) { m["coupon"] = "X" }), msg.Attributes, "m6"), `unknown field "coupon"`},
		{"binary data", envelope(t, []byte{0xff, 0xfe, 0}, msg.Attributes, "m7"), "body is not a cart event"},
		{"not an envelope", []byte(`[1,2,3]`), "not a Pub/Sub push envelope"},
		{"not JSON", []byte(`message`), "not a Pub/Sub push envelope"},
		{"too large", []byte(`{"message":{"data":"` + strings.Repeat("A", events.MaxPushBody) + `"}}`), "over the 16777216-byte limit"},
		{"no message id", []byte(`{"message":{"data":"e30="}}`), "no message id"},
		{"batch cut short", envelope(t, msg.Data, map[string]string{"schema_version": "1", "event_count": "3"}, "m8"), "event_count says 3 events but the data holds 1 lines"},
		{"event_count not a number", envelope(t, msg.Data, map[string]string{"schema_version": "1", "event_count": "many"}, "m9"), `event_count "many" is not a number`},
		{"event_count over the limit", envelope(t, msg.Data, map[string]string{"schema_version": "1", "event_count": "1001"}, "m10"), "from 1 to 1000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			if code := h.deliver(t, tc.body); !ok(code) {
				t.Fatalf("status %d: poison must be acknowledged", code)
			}
			if len(h.wh.rows) != 0 {
				t.Errorf("poison stored as an event: %+v", h.wh.rows)
			}
			if len(h.wh.rejected) != 1 || !strings.Contains(h.wh.rejected[0].Reason, tc.want) || h.wh.rejected[0].MessageID == "" {
				t.Fatalf("rejected = %+v, want one row with reason containing %q", h.wh.rejected, tc.want)
			}
		})
	}
}

func TestTransientWarehouseFailureIsRedeliveredUntilStored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.wh.failInserts = 2
	ev := cartEvent(3)
	var codes []int
	for i := 0; i < 5; i++ {
		code := h.deliver(t, eventEnvelope(t, ev, "m1"))
		codes = append(codes, code)
		if ok(code) {
			break
		}
	}
	if len(codes) != 3 || !ok(codes[2]) {
		t.Fatalf("statuses %v: want two failures then success", codes)
	}
	if h.wh.stored(ev.EventID) != 1 || len(h.wh.rejected) != 0 {
		t.Errorf("stored %d times, rejected %v", h.wh.stored(ev.EventID), h.wh.rejected)
	}
}

// batchEnvelope is the push body of one batch message of evs.
func batchEnvelope(t testing.TB, messageID string, evs ...model.CartEvent) []byte {
	t.Helper()
	msg, err := events.NewBatchMessage(evs...)
	if err != nil {
		t.Fatal(err)
	}
	return envelope(t, msg.Data, msg.Attributes, messageID)
}

func TestRowsOfABatchAreHandledOneByOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.wh.refuse[2] = true    // the warehouse refuses this row: quarantined
	h.wh.notAttempted[3] = 1 // dropped once because of another row: re-inserted
	if code := h.deliver(t, batchEnvelope(t, "m1", cartEvent(1), cartEvent(2), cartEvent(3), cartEvent(4))); !ok(code) {
		t.Fatalf("status %d", code)
	}
	if len(h.wh.rows) != 3 || len(h.wh.rejected) != 1 {
		t.Fatalf("rows %d, rejected %+v; want 3 and 1", len(h.wh.rows), h.wh.rejected)
	}
	rej := h.wh.rejected[0]
	if !strings.Contains(rej.Reason, "no such field") || rej.EventIndex != 2 || rej.EventID != cartEvent(2).EventID || rej.MessageID != "m1" {
		t.Errorf("rejected %+v; want line 2 (cart 2) of m1 with the warehouse's reason", rej)
	}
}

func TestABatchWithInvalidLinesStoresTheRestAndNamesEachLine(t *testing.T) {
	t.Parallel()
	good1, good2 := cartEvent(1), cartEvent(2)
	b1, _ := json.Marshal(good1)
	b2, _ := json.Marshal(good2)
	lines := [][]byte{b1, []byte(`{"event_id":`), b2, []byte(`{"event_id":"x","coupon":1}`), {0xff, 0xfe}}
	data := bytes.Join(lines, []byte("\n"))
	attrs := map[string]string{events.AttrSchemaVersion: model.CartEventSchemaVersion, events.AttrEventCount: "5"}
	h := newHarness(t, nil)
	for range 2 { // a redelivery changes nothing downstream
		if code := h.deliver(t, envelope(t, data, attrs, "m1")); !ok(code) {
			t.Fatalf("status %d", code)
		}
	}
	if h.wh.stored(good1.EventID) != 2 || h.wh.stored(good2.EventID) != 2 || len(h.wh.rows) != 4 {
		t.Errorf("rows %+v; want both good events once per delivery", h.wh.rows)
	}
	want := map[int]string{2: "line 2: poison message: body is not a cart event", 4: `line 4: poison message: body is not a cart event: json: unknown field "coupon"`, 5: "line 5: poison message: body is not a cart event"}
	if len(h.wh.rejected) != 6 {
		t.Fatalf("rejected %d rows, want 3 per delivery: %+v", len(h.wh.rejected), h.wh.rejected)
	}
	for _, r := range h.wh.rejected[:3] {
		if !strings.HasPrefix(r.Reason, want[r.EventIndex]) || r.MessageID != "m1" {
			t.Errorf("rejected line %d: %q, want it to start %q", r.EventIndex, r.Reason, want[r.EventIndex])
		}
	}
	if p := h.wh.rejected[2].Payload; p != "base64://4=" {
		t.Errorf("binary line kept as %q, want base64", p)
	}
}

func TestABatchIsAppendedInRequestsOfBatchRows(t *testing.T) {
	t.Parallel()
	evs := make([]model.CartEvent, events.MaxBatchEvents)
	for i := range evs {
		evs[i] = cartEvent(int64(i + 1))
	}
	for _, tc := range []struct {
		batchRows string
		inserts   int
	}{{"", 1}, {"300", 4}, {"1", 1000}} {
		t.Run("INSERT_BATCH_ROWS="+tc.batchRows, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{}
			if tc.batchRows != "" {
				vars["INSERT_BATCH_ROWS"] = tc.batchRows
			}
			h := newHarness(t, vars)
			if code := h.deliver(t, batchEnvelope(t, "m1", evs...)); !ok(code) {
				t.Fatalf("status %d", code)
			}
			if len(h.wh.rows) != len(evs) || h.wh.inserts != tc.inserts {
				t.Errorf("%d rows in %d inserts; want %d in %d", len(h.wh.rows), h.wh.inserts, len(evs), tc.inserts)
			}
		})
	}
}

// FuzzHandle: any payload is stored or quarantined, never lost, never a
// panic, and never an error while the warehouse is healthy; a message read as
// a batch has each of its lines stored or quarantined exactly once.
func FuzzHandle(f *testing.F) {
	f.Add(eventEnvelope(f, cartEvent(1), "m1"))
	f.Add(batchEnvelope(f, "m2", cartEvent(1), cartEvent(2)))
	f.Add([]byte(`{"message":{"data":"bm90IGpzb24KMg==","messageId":"x","attributes":{"schema_version":"1","event_count":"2"}}}`))
	f.Add([]byte(`{"message":{"data":"bm90IGpzb24=","messageId":"x","attributes":{"schema_version":"1"}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte{0xff})
	cfg, err := LoadConfig(config.Map(map[string]string{"PROJECT_ID": "p", "RAW_BUCKET": "b"}))
	if err != nil {
		f.Fatal(err)
	}
	wh := &fakeWarehouse{}
	fn, err := New(cfg, Deps{Warehouse: wh, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		wh.mu.Lock()
		before := len(wh.rows) + len(wh.rejected)
		wh.mu.Unlock()
		if err := fn.Handle(context.Background(), data); err != nil {
			t.Fatalf("Handle returned %v for a healthy warehouse", err)
		}
		wh.mu.Lock()
		after := len(wh.rows) + len(wh.rejected)
		wh.mu.Unlock()
		want := 1
		if push, err := events.DecodePush(data); err == nil {
			if lines, err := events.DecodeMessage(push.Message); err == nil {
				want = len(lines)
			}
		}
		if after != before+want {
			t.Fatalf("%d lines were not each stored or quarantined exactly once (%d -> %d)", want, before, after)
		}
	})
}

// TestPushDeliveryIsStoredOncePerDelivery feeds the function as the deployed
// push subscription does; each delivery is stored under the event's id.
func TestPushDeliveryIsStoredOncePerDelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ev := cartEvent(42)
	body := eventEnvelope(t, ev, "m-42")
	for range 2 {
		resp, err := h.client.Post(h.url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !ok(resp.StatusCode) {
			t.Fatalf("push delivery answered %d", resp.StatusCode)
		}
	}
	if n := h.wh.stored(ev.EventID); n != 2 {
		t.Errorf("stored %d rows for event %s, want one per delivery (2)", n, ev.EventID)
	}
}
