package replay

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/shared/lake/laketest"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// fakeWarehouse records what a replay writes; failOn makes InsertCartEvents
// refuse the row with that event id.
type fakeWarehouse struct {
	loads    []warehouse.LoadRequest
	records  []warehouse.LoadRecord
	events   []string
	rejected []string
	failOn   string
	insert   error
}

func (f *fakeWarehouse) LoadPartition(_ context.Context, req warehouse.LoadRequest) (int64, error) {
	f.loads = append(f.loads, req)
	return 10, nil
}

func (f *fakeWarehouse) RecordLoad(_ context.Context, rec warehouse.LoadRecord) error {
	f.records = append(f.records, rec)
	return nil
}

func (f *fakeWarehouse) InsertCartEvents(_ context.Context, rows []warehouse.CartEventRow) ([]error, error) {
	if f.insert != nil {
		return nil, f.insert
	}
	perRow := make([]error, len(rows))
	for i, r := range rows {
		if r.EventID == f.failOn {
			perRow[i] = errors.New("row refused")
			continue
		}
		f.events = append(f.events, r.EventID)
	}
	return perRow, nil
}

func (f *fakeWarehouse) InsertRejectedEvents(_ context.Context, rows []warehouse.RejectedEvent) error {
	for _, r := range rows {
		f.rejected = append(f.rejected, r.Reason)
	}
	return nil
}

func eventLine(t *testing.T, cartID int64) string {
	t.Helper()
	at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	c := &model.Cart{ID: cartID, UserID: 1, Date: "2026-11-22T06:00:00.000Z", Products: []model.CartLine{{ProductID: 1, Quantity: 2}}}
	fp, _ := model.CartFingerprint(c, nil)
	b, err := json.Marshal(model.NewUpsertEvent(c, fp, at, at))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newLake(t *testing.T, objects map[string]string) *storage.BucketHandle {
	t.Helper()
	return laketest.New(t, "lake", objects).Bucket("lake")
}

func TestSnapshotsLoadsEveryDayAgainUnderTheReplaysID(t *testing.T) {
	bucket := newLake(t, map[string]string{
		"raw/products/dt=2026-11-22/products.jsonl":       "{}\n",
		"raw/products/dt=2026-11-23/products.jsonl":       "{}\n",
		"raw/users/dt=2026-11-23/users.jsonl":             "{}\n",
		"raw/cart_events/dt=2026-11-23/06_00_00Z_a.jsonl": "{}\n",
		"raw/widgets/dt=2026-11-23/widgets.jsonl":         "{}\n",
		"raw/products/notes.txt":                          "x",
		"rejects/products/dt=2026-11-23/products.jsonl":   "{}\n",
	})
	wh := &fakeWarehouse{}
	r, err := New(Config{Bucket: "lake", RunID: "replay-1"}, bucket, wh)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Snapshots(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := loadLines(wh.loads)
	want := []string{
		"products 2026-11-22 raw/products/dt=2026-11-22/products.jsonl replay-1",
		"products 2026-11-23 raw/products/dt=2026-11-23/products.jsonl replay-1",
		"users 2026-11-23 raw/users/dt=2026-11-23/users.jsonl replay-1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("loads:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(wh.records) != 3 || wh.records[0].RunID != "replay-1" || wh.records[0].MD5 == "" || wh.records[0].RowCount != 10 {
		t.Errorf("load records %+v: want one per load, with the replay's id, md5 and rows", wh.records)
	}
	if res := r.Result(); res.Snapshots != 3 || res.Rows != 30 || res.Skipped != 2 {
		t.Errorf("result %+v, want 3 snapshots, 30 rows, 2 skipped (the unknown entity and the stray file)", res)
	}
}

// loadLines describes each load as "table day object replay".
func loadLines(loads []warehouse.LoadRequest) []string {
	var out []string
	for _, l := range loads {
		out = append(out, strings.Join([]string{l.Table, l.Day.Format("2006-01-02"), l.Object, l.Replay}, " "))
	}
	return out
}

func TestEventsReplaysEveryLineAndQuarantinesTheBadOnes(t *testing.T) {
	e1, e2, e3 := eventLine(t, 1), eventLine(t, 2), eventLine(t, 3)
	var bad model.CartEvent
	json.Unmarshal([]byte(e3), &bad)
	bucket := newLake(t, map[string]string{
		"raw/cart_events/dt=2026-11-22/06_00_00Z_a.jsonl": e1 + "\n" + "not json\n\n" + e2 + "\n",
		"raw/cart_events/dt=2026-11-23/06_00_00Z_b.jsonl": e3 + "\n" + e1 + "\n",
		"raw/products/dt=2026-11-23/products.jsonl":       "{}\n",
	})
	wh := &fakeWarehouse{failOn: bad.EventID}
	var seen []Result
	r, err := New(Config{Bucket: "lake", RunID: "replay-1", BatchRows: 2, Progress: func(res Result) { seen = append(seen, res) }}, bucket, wh)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Events(context.Background()); err != nil {
		t.Fatal(err)
	}
	res := r.Result()
	// e1 twice (a duplicate the staging models drop), e2; e3 refused by the
	// warehouse and "not json" refused by the decoder.
	if res.ArchiveObjects != 2 || res.Events != 3 || res.Rejected != 2 {
		t.Errorf("result %+v, want 2 objects, 3 events, 2 rejected", res)
	}
	if len(wh.events) != 3 || len(wh.rejected) != 2 {
		t.Fatalf("warehouse got events %v, rejects %q", wh.events, wh.rejected)
	}
	if !strings.Contains(wh.rejected[0], "replayed from the archive") || !strings.Contains(wh.rejected[0], "not a cart event") {
		t.Errorf("reason %q does not say what was wrong", wh.rejected[0])
	}
	if len(seen) != 2 {
		t.Errorf("progress called %d times, want once per object", len(seen))
	}
}

func TestEventsFailureNamesTheObject(t *testing.T) {
	bucket := newLake(t, map[string]string{"raw/cart_events/dt=2026-11-22/06_00_00Z_a.jsonl": eventLine(t, 1) + "\n"})
	r, err := New(Config{Bucket: "lake", RunID: "r"}, bucket, &fakeWarehouse{insert: errors.New("quota exceeded")})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Events(context.Background())
	if err == nil || !strings.Contains(err.Error(), "dt=2026-11-22/06_00_00Z_a.jsonl") || !strings.Contains(err.Error(), "quota exceeded") {
		t.Errorf("error %v: want the object and the cause", err)
	}
}

func TestNewRequiresItsDependencies(t *testing.T) {
	if _, err := New(Config{Bucket: "lake"}, nil, nil); err == nil {
		t.Error("New without a run id, bucket handle and warehouse succeeded")
	}
}
