package duckdb

import (
	"context"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
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

// TestInsertCartEventsStoresAStoreOrder: an order.* event lands with no cart
// id and its order in store_order, money exact (0.10 × 2 + 0.20 is 0.40).
func TestInsertCartEventsStoresAStoreOrder(t *testing.T) {
	t.Parallel()
	w := open(t, nil)
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	o := &model.CanonicalOrder{
		Record: model.Record{Origin: model.Origin{Kind: "shopify", Store: "x.myshopify.com"}, SourceID: "gid://shopify/Order/999",
			CreatedAt: at, UpdatedAt: at, Attributes: []byte(`{"name":"#999"}`)},
		Kind: model.KindOrder, Currency: "USD",
		Lines: []model.Line{
			model.Line{ProductID: "gid://shopify/Product/1", Quantity: 2}.Priced(money.MustParse("0.10")),
			model.Line{ProductID: "gid://shopify/Product/2", Quantity: 1}.Priced(money.MustParse("0.20")),
		},
	}
	ev, err := model.NewOrderEvent(o, at, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.InsertCartEvents(context.Background(), []warehouse.CartEventRow{{CartEvent: ev, MessageID: "m1", IngestedAt: at}}); err != nil {
		t.Fatal(err)
	}
	var got string
	err = w.DB().QueryRow(`select concat_ws(' ', coalesce(cast(cart_id as varchar), 'no-cart'), store_order.source_id, store_order.kind,
		list_sum(list_transform(store_order.lines, l -> l.total)), store_order.attributes ->> 'name')
		from bq_raw.cart_events`).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if want := "no-cart gid://shopify/Order/999 order 0.400000000 #999"; got != want {
		t.Errorf("stored %q, want %q", got, want)
	}
}

// TestOpenRelaxesARequiredColumn: a warehouse made when cart_id was
// required is relaxed on open, as BigQuery relaxes a column in place.
func TestOpenRelaxesARequiredColumn(t *testing.T) {
	t.Parallel()
	w := open(t, nil)
	if _, err := w.DB().Exec(`alter table bq_raw.cart_events alter column cart_id set not null`); err != nil {
		t.Fatal(err)
	}
	if err := w.migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var nullable bool
	if err := w.DB().QueryRow(`select is_nullable from duckdb_columns() where schema_name = 'bq_raw' and table_name = 'cart_events' and column_name = 'cart_id'`).Scan(&nullable); err != nil || !nullable {
		t.Errorf("cart_id nullable = %v, %v", nullable, err)
	}
}
