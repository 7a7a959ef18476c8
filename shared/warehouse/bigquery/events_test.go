package bigquery

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

func TestInsertCartEventsSendsInsertIDs(t *testing.T) {
	t.Parallel()
	fake, w := newTestWarehouse(t)
	rows := eventRows()
	perRow, err := w.InsertCartEvents(context.Background(), rows)
	if err != nil || len(perRow) != 2 || perRow[0] != nil || perRow[1] != nil {
		t.Fatalf("InsertCartEvents = %v, %v", perRow, err)
	}
	calls := fake.calls("POST", "/datasets/bq_raw/tables/cart_events/insertAll")
	if len(calls) != 1 {
		t.Fatalf("%d insertAll calls", len(calls))
	}
	sent := calls[0].Body["rows"].([]any)
	first := sent[0].(map[string]any)
	if first["insertId"] != rows[0].EventID {
		t.Errorf("insertId = %v, want the event id", first["insertId"])
	}
	js := first["json"].(map[string]any)
	want := map[string]any{
		"event_type": "cart.upserted", "cart_id": float64(1), "user_id": float64(2), "fingerprint": "0000000000000007",
		"cart_date": "2020-03-02T00:00:00Z", "published_at": "2026-11-23T06:00:00Z", "message_id": "m1",
		"products": []any{map[string]any{"product_id": float64(3), "quantity": float64(4)}},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, js[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	tomb := sent[1].(map[string]any)["json"].(map[string]any)
	if tomb["event_type"] != "cart.deleted" || tomb["user_id"] != nil || tomb["cart_date"] != nil {
		t.Errorf("tombstone row = %v", tomb)
	}
}

func TestInsertCartEventsReportsRowErrorsOneByOne(t *testing.T) {
	t.Parallel()
	fake, w := newTestWarehouse(t)
	fake.rowErrors = map[int]string{1: "invalid"}
	perRow, err := w.InsertCartEvents(context.Background(), eventRows())
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(perRow[0], warehouse.ErrRowNotAttempted) {
		t.Errorf("row 0: %v, want ErrRowNotAttempted (stopped by row 1)", perRow[0])
	}
	if !errors.Is(perRow[1], warehouse.ErrInvalidData) {
		t.Errorf("row 1: %v, want ErrInvalidData", perRow[1])
	}

	fake.rowErrors = map[int]string{0: "backendError", 1: "backendError"}
	perRow, err = w.InsertCartEvents(context.Background(), eventRows())
	if err != nil || perRow[0] == nil || errors.Is(perRow[0], warehouse.ErrInvalidData) || errors.Is(perRow[0], warehouse.ErrRowNotAttempted) {
		t.Errorf("backend error rows = %v, %v; want transient per-row errors", perRow, err)
	}

	fake.rowErrors = nil
	fake.failInsert = 400
	if _, err := w.InsertCartEvents(context.Background(), eventRows()); err == nil {
		t.Error("a failed request returned no error")
	}
}

func TestInsertRejectedEvents(t *testing.T) {
	t.Parallel()
	fake, w := newTestWarehouse(t)
	at := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	if err := w.InsertRejectedEvents(context.Background(), []warehouse.RejectedEvent{{MessageID: "m9", Reason: "unknown schema_version", Payload: "{}", ReceivedAt: at}}); err != nil {
		t.Fatal(err)
	}
	calls := fake.calls("POST", "/datasets/bq_raw/tables/cart_events_rejected/insertAll")
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	row := calls[0].Body["rows"].([]any)[0].(map[string]any)
	if row["insertId"] != "rejected:m9" || row["json"].(map[string]any)["reason"] != "unknown schema_version" {
		t.Errorf("row = %v", row)
	}
}
