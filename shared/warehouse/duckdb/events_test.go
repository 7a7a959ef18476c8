package duckdb

import (
	"context"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse"
)

func TestInsertCartEventsKeepsDuplicatesAndNesting(t *testing.T) {
	t.Parallel()
	w := open(t, nil)
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	date := time.Date(2020, 3, 2, 0, 0, 0, 0, time.UTC)
	fp := model.Fingerprint(7)
	up := model.CartEvent{EventID: model.CartEventID(1, fp), EventType: model.EventCartUpserted, CartID: 1, UserID: 2, CartDate: &date,
		Products: []model.CartEventLine{{ProductID: 3, Quantity: 4}, {ProductID: 5, Quantity: 1}}, Fingerprint: fp.String(), ExtractedAt: at, PublishedAt: at}
	del := model.NewDeleteEvent(9, fp, at, at)
	rows := []warehouse.CartEventRow{{CartEvent: up, MessageID: "m1", IngestedAt: at}, {CartEvent: up, MessageID: "m2", IngestedAt: at}, {CartEvent: del, MessageID: "m3", IngestedAt: at}}
	errs, err := w.InsertCartEvents(ctx, rows)
	if err != nil || len(errs) != 3 || errs[0] != nil {
		t.Fatalf("InsertCartEvents = %v, %v", errs, err)
	}
	var n, distinct, lines, qty int64
	if err := w.DB().QueryRow(`select count(*), count(distinct event_id) from bq_raw.cart_events`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != 3 || distinct != 2 {
		t.Errorf("rows %d, distinct events %d; want 3 and 2 (raw keeps duplicates)", n, distinct)
	}
	if err := w.DB().QueryRow(`select len(products), products[1].quantity from bq_raw.cart_events where message_id = 'm1'`).Scan(&lines, &qty); err != nil {
		t.Fatal(err)
	}
	if lines != 2 || qty != 4 {
		t.Errorf("products: %d lines, first quantity %d", lines, qty)
	}
	var nullDate bool
	if err := w.DB().QueryRow(`select cart_date is null from bq_raw.cart_events where event_type = 'cart.deleted'`).Scan(&nullDate); err != nil || !nullDate {
		t.Errorf("tombstone cart_date null = %v, %v", nullDate, err)
	}
	if err := w.InsertRejectedEvents(ctx, []warehouse.RejectedEvent{{MessageID: "m4", Reason: "bad", Payload: "{", ReceivedAt: at}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := w.CountRows(ctx, "cart_events_rejected"); n != 1 {
		t.Errorf("rejected rows = %d", n)
	}
}
