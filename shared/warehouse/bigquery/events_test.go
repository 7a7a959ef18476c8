package bigquery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse"
)

func eventRows() []warehouse.CartEventRow {
	at := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	date := time.Date(2020, 3, 2, 0, 0, 0, 0, time.UTC)
	up := model.CartEvent{EventID: model.CartEventID(1, 7), EventType: model.EventCartUpserted, CartID: 1, UserID: 2, CartDate: &date,
		Products: []model.CartEventLine{{ProductID: 3, Quantity: 4}}, Fingerprint: model.Fingerprint(7).String(), ExtractedAt: at, PublishedAt: at}
	return []warehouse.CartEventRow{
		{CartEvent: up, MessageID: "m1", IngestedAt: at},
		{CartEvent: model.NewDeleteEvent(9, 7, at, at), MessageID: "m2", IngestedAt: at},
	}
}

// field reads a column of a stored row.
func field(m *dynamicpb.Message, name string) any {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || !m.Has(fd) {
		return nil
	}
	return m.Get(fd).Interface()
}

func TestInsertCartEventsAppendsToTheDefaultStream(t *testing.T) {
	t.Parallel()
	fake, w := newWriteWarehouse(t)
	rows := eventRows()
	for range 2 { // the stream is opened once and reused
		perRow, err := w.InsertCartEvents(context.Background(), rows)
		if err != nil || len(perRow) != 2 || perRow[0] != nil || perRow[1] != nil {
			t.Fatalf("InsertCartEvents = %v, %v", perRow, err)
		}
	}
	got := fake.stored("cart_events")
	if len(got) != 4 || fake.appends != 2 {
		t.Fatalf("%d rows in %d appends, want 4 in 2", len(got), fake.appends)
	}
	up := got[0]
	want := map[string]any{
		"event_id": rows[0].EventID, "event_type": "cart.upserted", "cart_id": int64(1), "user_id": int64(2), "fingerprint": "0000000000000007",
		"cart_date":    time.Date(2020, 3, 2, 0, 0, 0, 0, time.UTC).UnixMicro(),
		"published_at": time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC).UnixMicro(), "message_id": "m1",
	}
	for k, v := range want {
		if diff := cmp.Diff(v, field(up, k)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	lines := up.Get(up.Descriptor().Fields().ByName("products")).List()
	if lines.Len() != 1 {
		t.Fatalf("%d product lines", lines.Len())
	}
	line := lines.Get(0).Message().Interface().(*dynamicpb.Message)
	if field(line, "product_id") != int64(3) || field(line, "quantity") != int64(4) {
		t.Errorf("product line %v", line)
	}
	tomb := got[1]
	if field(tomb, "event_type") != "cart.deleted" || field(tomb, "user_id") != nil || field(tomb, "cart_date") != nil {
		t.Errorf("tombstone row = %v", tomb)
	}
}

func TestInsertCartEventsReportsRowErrorsOneByOne(t *testing.T) {
	t.Parallel()
	fake, w := newWriteWarehouse(t)
	fake.refuse = func(m *dynamicpb.Message) string {
		if field(m, "cart_id") == int64(9) {
			return "Field cart_id: value out of range"
		}
		return ""
	}
	perRow, err := w.InsertCartEvents(context.Background(), eventRows())
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(perRow[0], warehouse.ErrRowNotAttempted) {
		t.Errorf("row 0: %v, want ErrRowNotAttempted (the request failed because of row 1)", perRow[0])
	}
	if !errors.Is(perRow[1], warehouse.ErrInvalidData) || !strings.Contains(perRow[1].Error(), "value out of range") {
		t.Errorf("row 1: %v, want ErrInvalidData with BigQuery's reason", perRow[1])
	}
	if n := len(fake.stored("cart_events")); n != 0 {
		t.Errorf("%d rows stored from a refused request", n)
	}
}

func TestEncodeRow(t *testing.T) {
	t.Parallel()
	sw, err := newStreamWriter(nil, "proj", "bq_raw", "cart_events")
	if err != nil {
		t.Fatal(err)
	}
	row := func(mod func(map[string]bigquery.Value)) map[string]bigquery.Value {
		r := cartEventRow(&eventRows()[0])
		mod(r)
		return r
	}
	tests := []struct {
		name    string
		row     map[string]bigquery.Value
		wantErr string
	}{
		{"valid", row(func(map[string]bigquery.Value) {}), ""},
		{"required column missing", row(func(r map[string]bigquery.Value) { delete(r, "event_id") }), "required field"},
		{"required column null", row(func(r map[string]bigquery.Value) { r["ingested_at"] = nil }), "required field"},
		{"wrong type", row(func(r map[string]bigquery.Value) { r["cart_id"] = "one" }), "column cart_id: cannot write string as int64"},
		{"unknown column", row(func(r map[string]bigquery.Value) { r["coupon"] = "X" }), "column coupon is not in the table's schema"},
		{"line not a record", row(func(r map[string]bigquery.Value) { r["products"] = []bigquery.Value{3} }), "column products: int is not a record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := encodeRow(sw.md, tt.row)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestInsertCartEventsRetriesATransientFailure(t *testing.T) {
	t.Parallel()
	fake, w := newWriteWarehouse(t)
	fake.unavailable = 1
	if perRow, err := w.InsertCartEvents(context.Background(), eventRows()); err != nil || perRow[0] != nil || perRow[1] != nil {
		t.Fatalf("after one UNAVAILABLE: %v, %v; want the client's retry to store both rows", perRow, err)
	}
	if n := len(fake.stored("cart_events")); n != 2 {
		t.Errorf("%d rows stored, want 2", n)
	}
	fake.mu.Lock()
	fake.unavailable = 100
	fake.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := w.InsertCartEvents(ctx, eventRows())
	if err == nil || errors.Is(err, warehouse.ErrInvalidData) {
		t.Fatalf("a lasting outage returned %v, want a request-level error to retry (redelivery)", err)
	}
}

func TestInsertCartEventsReportsASchemaMismatch(t *testing.T) {
	t.Parallel()
	fake, w := newWriteWarehouse(t)
	fake.missing = map[string]bool{"ingested_at": true}
	_, err := w.InsertCartEvents(context.Background(), eventRows())
	if err == nil || !strings.Contains(err.Error(), "extra fields: 'ingested_at'") || errors.Is(err, warehouse.ErrInvalidData) {
		t.Fatalf("err = %v; want a request-level error naming the column (not a refused row: the events must come back once the table is fixed)", err)
	}
}

func TestInsertRejectedEvents(t *testing.T) {
	t.Parallel()
	fake, w := newWriteWarehouse(t)
	at := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	rows := []warehouse.RejectedEvent{
		{MessageID: "m9", Reason: "unknown schema_version", Payload: "{}", ReceivedAt: at},
		{MessageID: "m9", EventID: "e", EventIndex: 3, Reason: "line 3: bad", Payload: "{", ReceivedAt: at},
	}
	if err := w.InsertRejectedEvents(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	got := fake.stored("cart_events_rejected")
	if len(got) != 2 {
		t.Fatalf("%d rows", len(got))
	}
	if field(got[0], "reason") != "unknown schema_version" || field(got[0], "event_index") != nil || field(got[0], "event_id") != nil ||
		field(got[1], "event_index") != int64(3) || field(got[1], "event_id") != "e" || field(got[1], "received_at") != at.UnixMicro() {
		t.Errorf("rows = %v", got)
	}
	fake.refuse = func(*dynamicpb.Message) string { return "row too large" }
	if err := w.InsertRejectedEvents(context.Background(), rows); err == nil || !strings.Contains(err.Error(), "row too large") {
		t.Errorf("a refused rejected row returned %v; want an error, so the message comes back", err)
	}
}

func TestAWarehouseWithoutAWriteClientSaysSo(t *testing.T) {
	t.Parallel()
	_, w := newTestWarehouse(t)
	if _, err := w.InsertCartEvents(context.Background(), eventRows()); !errors.Is(err, errNoWriter) {
		t.Errorf("err = %v", err)
	}
}

// TestTheWriteClientIsDialledOnFirstUseAndAgainAfterAFailure: functions
// that stream nothing never connect to the Storage Write API, and a failed
// dial does not stick.
func TestTheWriteClientIsDialledOnFirstUseAndAgainAfterAFailure(t *testing.T) {
	t.Parallel()
	fake, dial := startFakeWrite(t)
	_, client := newFakeBQ(t)
	w, err := New(Config{ProjectID: "proj", Dataset: "bq_raw"}, client, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	dials := 0
	w.dial = func(context.Context) (*managedwriter.Client, error) {
		dials++
		if dials == 1 {
			return nil, errors.New("no credentials yet")
		}
		return dial()
	}
	if _, err := w.InsertCartEvents(context.Background(), eventRows()); err == nil || !strings.Contains(err.Error(), "no credentials yet") {
		t.Fatalf("first insert: %v, want the dial's error", err)
	}
	for range 2 {
		if perRow, err := w.InsertCartEvents(context.Background(), eventRows()); err != nil || perRow[0] != nil {
			t.Fatalf("insert after the failed dial: %v, %v", perRow, err)
		}
	}
	if dials != 2 || len(fake.stored("cart_events")) != 4 {
		t.Errorf("%d dials, %d rows; want 2 dials (one failed), 4 rows", dials, len(fake.stored("cart_events")))
	}
}
