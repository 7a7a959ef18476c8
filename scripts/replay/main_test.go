package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse/duckdb"
)

// lakeAndWarehouse is a lake of two product snapshots and an event archive
// of three events (one twice, one a poison line), and an empty warehouse.
func lakeAndWarehouse(t *testing.T) (func(context.Context, options) (target, error), *duckdb.Warehouse) {
	t.Helper()
	event := func(cartID int64) string {
		at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
		c := &model.Cart{ID: cartID, UserID: 1, Date: "2026-11-22T06:00:00.000Z", Products: []model.CartLine{{ProductID: 1, Quantity: 2}}}
		fp, _ := model.CartFingerprint(c, nil)
		b, _ := json.Marshal(model.NewUpsertEvent(c, fp, at, at))
		return string(b) + "\n"
	}
	client := laketest.New(t, "lake", map[string]string{
		"raw/products/dt=2026-11-22/products.jsonl":       laketest.ProductSnapshot("2026-11-22", 1, 2, 3),
		"raw/products/dt=2026-11-23/products.jsonl":       laketest.ProductSnapshot("2026-11-23", 1, 2),
		"raw/cart_events/dt=2026-11-22/06_00_00Z_a.jsonl": event(1) + event(2),
		"raw/cart_events/dt=2026-11-22/06_05_00Z_b.jsonl": event(2) + event(3) + "{\"event_id\": 7}\n",
	})
	wh, err := duckdb.Open(context.Background(), duckdb.Config{Path: filepath.Join(t.TempDir(), "w.duckdb"), Dataset: "bq_raw"}, duckdb.BucketObjects{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	open := func(context.Context, options) (target, error) {
		return target{bucket: client.Bucket("lake"), wh: wh, close: func() {}}, nil
	}
	return open, wh
}

func counts(t *testing.T, wh *duckdb.Warehouse) string {
	t.Helper()
	var products, days, events, distinct, rejected int64
	err := wh.DB().QueryRow(`select (select count(*) from bq_raw.products), (select count(distinct dt) from bq_raw.products),
		(select count(*) from bq_raw.cart_events), (select count(distinct event_id) from bq_raw.cart_events),
		(select count(*) from bq_raw.cart_events_rejected)`).Scan(&products, &days, &events, &distinct, &rejected)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("products %d in %d days, cart_events %d (%d distinct), rejected %d", products, days, events, distinct, rejected)
}

func TestReplayRefillsTheRawTablesAndIsSafeToRepeat(t *testing.T) {
	open, wh := lakeAndWarehouse(t)
	ctx := context.Background()
	args := []string{"--project", "proj", "--bucket", "lake"}
	var out, errOut bytes.Buffer
	if code := run(ctx, args, &out, &errOut, open); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if got, want := counts(t, wh), "products 5 in 2 days, cart_events 4 (3 distinct), rejected 1"; got != want {
		t.Errorf("after a replay: %s, want %s", got, want)
	}
	for _, want := range []string{"replayed 2 snapshots (5 rows", "2 archive objects (4 events, 1 rejected)", "--full-refresh"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// Again: the snapshot partitions are replaced, not doubled; the events
	// are duplicates of the same event ids, which staging drops.
	if code := run(ctx, args, io.Discard, &errOut, open); code != 0 {
		t.Fatalf("second replay: exit %d: %s", code, errOut.String())
	}
	if got, want := counts(t, wh), "products 5 in 2 days, cart_events 8 (3 distinct), rejected 2"; got != want {
		t.Errorf("after a second replay: %s, want %s", got, want)
	}
}

func TestReplayOnlyWhatIsAsked(t *testing.T) {
	open, wh := lakeAndWarehouse(t)
	if code := run(context.Background(), []string{"--project", "p", "--bucket", "lake", "--what", "events"}, io.Discard, io.Discard, open); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got, want := counts(t, wh), "products 0 in 0 days, cart_events 4 (3 distinct), rejected 1"; got != want {
		t.Errorf("--what events: %s, want %s", got, want)
	}
}

func TestReplayUsageAndFailures(t *testing.T) {
	failing := func(context.Context, options) (target, error) { return target{}, errors.New("no credentials") }
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no bucket", []string{"--project", "p"}, 2, "--project and --bucket are required"},
		{"unknown what", []string{"--project", "p", "--bucket", "b", "--what", "marts"}, 2, `--what "marts"`},
		{"unknown flag", []string{"--bukket", "b"}, 2, "flag provided but not defined"},
		{"cannot open", []string{"--project", "p", "--bucket", "b"}, 1, "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOOGLE_CLOUD_PROJECT", "")
			var errOut bytes.Buffer
			if code := run(context.Background(), tt.args, io.Discard, &errOut, failing); code != tt.code || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), tt.code, tt.want)
			}
		})
	}
}
