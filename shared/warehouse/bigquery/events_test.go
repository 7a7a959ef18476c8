package bigquery

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
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

// TestInsertCartEventsStoresAStoreOrder: an order.* event lands with its
// order in the store_order record, its money as NUMERIC bytes that read
// back exactly, its attributes as JSON text, and no cart id.
func TestInsertCartEventsStoresAStoreOrder(t *testing.T) {
	t.Parallel()
	fake, w := newWriteWarehouse(t)
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	total := money.MustParse("0.40")
	o := &model.CanonicalOrder{
		Record: model.Record{Origin: model.Origin{Kind: "shopify", Store: "x.myshopify.com"}, SourceID: "gid://shopify/Order/999",
			CreatedAt: at, UpdatedAt: at, Attributes: []byte(`{"name":"#999"}`)},
		Kind: model.KindOrder, Status: "PAID", Currency: "USD", Total: &total,
		Lines: []model.Line{
			model.Line{SourceID: "1", ProductID: "gid://shopify/Product/1", Quantity: 2}.Priced(money.MustParse("0.10")),
			model.Line{SourceID: "2", ProductID: "gid://shopify/Product/2", Quantity: 1}.Priced(money.MustParse("0.20")),
		},
	}
	ev, err := model.NewOrderEvent(o, at, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.InsertCartEvents(context.Background(), []warehouse.CartEventRow{{CartEvent: ev, MessageID: "m1", IngestedAt: at}}); err != nil {
		t.Fatal(err)
	}
	got := fake.stored("cart_events")
	if len(got) != 1 {
		t.Fatalf("%d rows stored, want 1", len(got))
	}
	row := got[0]
	if field(row, "cart_id") != nil || field(row, "user_id") != nil || field(row, "event_type") != "order.upserted" {
		t.Errorf("row = %v, want an order event without a cart", row)
	}
	rec := row.Get(row.Descriptor().Fields().ByName("store_order")).Message().Interface().(*dynamicpb.Message)
	want := map[string]any{
		"source_kind": "shopify", "source_store": "x.myshopify.com", "source_id": "gid://shopify/Order/999",
		"kind": "order", "status": "PAID", "currency": "USD", "deleted": false, "attributes": `{"name":"#999"}`,
		"total": total.NumericBytes(), "updated_at": at.UnixMicro(),
	}
	for k, v := range want {
		if diff := cmp.Diff(v, field(rec, k)); diff != "" {
			t.Errorf("store_order.%s (-want +got):\n%s", k, diff)
		}
	}
	lines := rec.Get(rec.Descriptor().Fields().ByName("lines")).List()
	var sum money.Amount
	for i := range lines.Len() {
		line := lines.Get(i).Message().Interface().(*dynamicpb.Message)
		sum = sum.Add(numeric(t, field(line, "total").([]byte)))
	}
	if lines.Len() != 2 || sum.String() != "0.4" {
		t.Errorf("%d lines summing to %s, want 2 summing to exactly 0.4", lines.Len(), sum)
	}
}

// numeric reads NUMERIC bytes (little-endian two's complement billionths)
// back into an amount, as BigQuery does.
func numeric(t *testing.T, b []byte) money.Amount {
	t.Helper()
	be := make([]byte, len(b))
	for i := range b {
		be[i] = b[len(b)-1-i]
	}
	n := new(big.Int).SetBytes(be)
	if len(be) > 0 && be[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(be))))
	}
	a, err := money.Parse(new(big.Rat).SetFrac(n, big.NewInt(1e9)).FloatString(9))
	if err != nil {
		t.Fatal(err)
	}
	return a
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
