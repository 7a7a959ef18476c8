package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/internal/dbtrun"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/storefront"
)

func TestRunFixturesTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	first := runLocal(t, dir, nil, append([]string{"--port", "0"}, dbtArgs()...)...)
	if first.code != 0 {
		t.Fatalf("first run exit %d\nstdout:\n%s\nstderr:\n%s", first.code, first.stdout, first.stderr)
	}
	if diff := cmp.Diff(map[string]int64{"products": 20, "users": 10}, counts(t, dir)); diff != "" {
		t.Errorf("after first run (-want +got):\n%s", diff)
	}
	s1 := lastRun(t, dir)
	if len(s1.Deliveries) != 2 || s1.NothingChanged {
		t.Errorf("first run: deliveries %v, nothing changed %v", s1.Deliveries, s1.NothingChanged)
	}
	if p := s1.Polls[0]; p.Poll.Published != 7 || p.Push.Events != 7 || p.Push.Acked != 1 || s1.Streaming.CartEventRows != 7 {
		t.Errorf("first run streamed %+v, %+v; want 7 published, 7 events acked in 1 message, 7 rows", p, s1.Streaming)
	}

	var martsBefore map[string]string
	if os.Getenv("SHOPLAKE_DBT") != "" {
		assertMartsMatchTheFixtures(t, dir)
		martsBefore = martDigests(t, dir)
		// Every raw source was just written: dbt must judge each fresh.
		fresh := map[string]string{}
		for _, f := range s1.DBT.Freshness {
			fresh[f.Source] = f.Status
		}
		want := map[string]string{"bq_raw.cart_events": "pass", "bq_raw.products": "pass", "bq_raw.users": "pass"}
		if diff := cmp.Diff(want, fresh); diff != "" || !strings.Contains(first.stdout, "source freshness: bq_raw.cart_events pass") {
			t.Errorf("source freshness (-want +got):\n%s\nstdout:\n%s", diff, first.stdout)
		}
	}

	second := runLocal(t, dir, nil, append([]string{"--port", "0"}, dbtArgs()...)...)
	if second.code != 0 {
		t.Fatalf("second run exit %d: %s", second.code, second.stderr)
	}
	s2 := lastRun(t, dir)
	if !s2.NothingChanged || len(s2.Deliveries) != 0 || !strings.Contains(second.stdout, "Nothing changed") {
		t.Errorf("second run should say nothing changed:\n%s", second.stdout)
	}
	for i, e := range s2.Ingest.Entities {
		if !e.Unchanged || e.Generation != s1.Ingest.Entities[i].Generation {
			t.Errorf("%s rewritten: generation %d -> %d", e.Entity, s1.Ingest.Entities[i].Generation, e.Generation)
		}
	}
	if diff := cmp.Diff(map[string]int64{"products": 20, "users": 10}, counts(t, dir)); diff != "" {
		t.Errorf("after second run (-want +got):\n%s", diff)
	}
	if p := s2.Polls[0]; p.Poll.Published != 0 || p.Push.Delivered != 0 || s2.Streaming.CartEventRows != 7 {
		t.Errorf("second run streamed %+v, %+v; want nothing published and still 7 rows", p, s2.Streaming)
	}
	assertNoFixturePassword(t, dir)
	if martsBefore != nil {
		if diff := cmp.Diff(martsBefore, martDigests(t, dir)); diff != "" {
			t.Errorf("a second run changed the marts (-before +after):\n%s", diff)
		}
		assertDuplicateEventsChangeNothing(t, dir, martsBefore)
	}
}

// assertMartsMatchTheFixtures checks the marts against figures computed here,
// independently, from the FakeStore fixtures: one order per cart, one item
// per cart line, and revenue = Σ quantity × price.
func assertMartsMatchTheFixtures(t *testing.T, dir string) {
	t.Helper()
	var products []struct {
		ID    int64
		Price float64
	}
	var carts []struct {
		ID       int64
		Products []struct{ ProductID, Quantity int64 }
	}
	for entity, v := range map[string]any{"products": &products, "carts": &carts} {
		if err := storefront.DecodeFixtures(entity, v); err != nil {
			t.Fatal(err)
		}
	}
	price := map[int64]float64{}
	for _, p := range products {
		price[p.ID] = p.Price
	}
	lines, byCart := 0, map[int64]float64{}
	var total float64
	for _, c := range carts {
		for _, l := range c.Products {
			lines++
			byCart[c.ID] += float64(l.Quantity) * price[l.ProductID]
			total += float64(l.Quantity) * price[l.ProductID]
		}
	}
	db := openWarehouse(t, dir)
	defer db.Close()
	want := map[string]int64{"dim_products": 20, "dim_users": 10, "fact_orders": 7, "fact_order_items": int64(lines)}
	for table, n := range want {
		var got int64
		if err := db.QueryRow("select count(*) from bq_analytics." + table).Scan(&got); err != nil || got != n {
			t.Errorf("%s has %d rows (%v), want %d", table, got, err, n)
		}
	}
	rows, err := db.Query("select cart_id, revenue::double from bq_analytics.fact_orders where not is_deleted")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sum float64
	for rows.Next() {
		var id int64
		var rev float64
		if err := rows.Scan(&id, &rev); err != nil {
			t.Fatal(err)
		}
		sum += rev
		if d := rev - byCart[id]; d > 0.005 || d < -0.005 {
			t.Errorf("cart %d revenue %.2f, computed by hand %.2f", id, rev, byCart[id])
		}
	}
	if d := sum - total; d > 0.005 || d < -0.005 || fmt.Sprintf("%.2f", total) != "4691.27" {
		t.Errorf("revenue %.2f, by hand %.2f (the fixtures' README says 4691.27)", sum, total)
	}
	var undated int64
	if err := db.QueryRow("select count(*) from bq_analytics.fact_orders o left join bq_analytics.dim_date d on o.order_date = d.date_day where d.date_day is null").Scan(&undated); err != nil || undated != 0 {
		t.Errorf("%d orders have no dim_date row (%v)", undated, err)
	}
}

// martDigests returns a digest of every mart's content.
func martDigests(t *testing.T, dir string) map[string]string {
	t.Helper()
	db := openWarehouse(t, dir)
	defer db.Close()
	out := map[string]string{}
	for _, m := range dbtrun.Marts {
		var d sql.NullString
		q := "select md5(string_agg(r, '|' order by r)) from (select cast(t as varchar) as r from bq_analytics." + m + " t)"
		if err := db.QueryRow(q).Scan(&d); err != nil {
			t.Fatal(err)
		}
		out[m] = d.String
	}
	return out
}

// assertDuplicateEventsChangeNothing stores a second delivery of every event
// in raw, rebuilds the marts, and expects them unchanged.
func assertDuplicateEventsChangeNothing(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	db := openWarehouse(t, dir)
	if _, err := db.Exec("insert into bq_raw.cart_events select * replace (message_id || '-redelivered' as message_id) from bq_raw.cart_events"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cmd := exec.Command(os.Getenv("SHOPLAKE_DBT"), "build", "--target", "local", "--project-dir", "../../dbt", "--profiles-dir", "../../dbt",
		"--target-path", filepath.Join(dir, "dbt", "target"), "--log-path", filepath.Join(dir, "dbt", "logs"))
	cmd.Env = append(os.Environ(), "SHOPLAKE_DUCKDB_PATH="+filepath.Join(dir, "warehouse.duckdb"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dbt build: %v\n%s", err, out)
	}
	if diff := cmp.Diff(before, martDigests(t, dir)); diff != "" {
		t.Errorf("raw duplicates changed the marts (-before +after):\n%s", diff)
	}
}

// assertNoFixturePassword looks for every FakeStore fixture password and
// e-mail address in every file the runner wrote and in every row of every
// warehouse table.
func assertNoFixturePassword(t *testing.T, dir string) {
	t.Helper()
	var users bytes.Buffer
	if _, _, err := storefront.Fixtures().WriteEntity(&users, "users"); err != nil {
		t.Fatal(err)
	}
	var fixture []struct{ Password, Email string }
	if err := json.Unmarshal(users.Bytes(), &fixture); err != nil {
		t.Fatal(err)
	}
	var haystack bytes.Buffer
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(path, ".duckdb") {
			b, _ := os.ReadFile(path)
			haystack.Write(b)
		}
		return err
	})
	db := openWarehouse(t, dir)
	defer db.Close()
	for _, table := range []string{"products", "users", "_load_metadata", "pipeline_runs"} {
		var dump sql.NullString
		if err := db.QueryRow(`select string_agg(cast(t as varchar), '\n') from bq_raw."` + table + `" t`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		haystack.WriteString(dump.String)
	}
	if !strings.Contains(haystack.String(), "johnd") {
		t.Fatal("the search saw no user data; it would find nothing")
	}
	for _, u := range fixture {
		if u.Password == "" || strings.Contains(haystack.String(), u.Password) {
			t.Errorf("a fixture password (%d chars) was written", len(u.Password))
		}
		if u.Email == "" || strings.Contains(haystack.String(), u.Email) {
			t.Errorf("a fixture e-mail address (%d chars) was written", len(u.Email))
		}
	}
}

func TestRunQuarantinesInvalidRecordsFromAnExternalSource(t *testing.T) {
	t.Parallel()
	api := httptest.NewServer(storefront.NewServer(storefront.Raw(map[string]string{
		"products": `[{"id":1,"title":"ok","price":2,"category":"c"},` +
			`{"title":"no id","price":1,"category":"c"},` +
			`{"id":3,"title":"","price":1,"category":"c"},` +
			`{"id":4,"title":"neg","price":-1,"category":"c"},` +
			`7]`,
		"users": `[{"id":1,"email":"a@b.co","username":"a","password":"pw-1"},{"id":2,"email":"nope","username":"b","password":"pw-2"}]`,
		// The zero date of many backends, and a far future one.
		"carts": `[{"id":1,"userId":1,"date":"2020-03-02T00:00:00.000Z","products":[{"productId":1,"quantity":1}]},` +
			`{"id":2,"userId":1,"date":"0001-01-01T00:00:00.000Z","products":[{"productId":1,"quantity":1}]},` +
			`{"id":3,"userId":1,"date":"9999-12-31T00:00:00.000Z","products":[]}]`,
	})))
	defer api.Close()
	dir := t.TempDir()

	r := runLocal(t, dir, []string{"SOURCE_BASE_URL=" + api.URL}, "--port", "0")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if diff := cmp.Diff(map[string]int64{"products": 1, "users": 1}, counts(t, dir)); diff != "" {
		t.Errorf("valid rows (-want +got):\n%s", diff)
	}
	s := lastRun(t, dir)
	for _, e := range s.Entities {
		if e.Fetched != e.Valid+e.Rejected {
			t.Errorf("%s: %d fetched != %d valid + %d rejected", e.Entity, e.Fetched, e.Valid, e.Rejected)
		}
	}
	if s.Entities[0].Rejected != 4 || s.Entities[1].Rejected != 1 {
		t.Errorf("rejected = %d products, %d users", s.Entities[0].Rejected, s.Entities[1].Rejected)
	}
	day := s.Ingest.Date
	rejects, err := os.ReadFile(filepath.Join(dir, "gcs", names.Bucket, "rejects", "products", "dt="+day, "products.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"id fails gt=0", "title fails notblank", "price fails gte=0", "not a JSON object"} {
		if !strings.Contains(string(rejects), reason) {
			t.Errorf("rejects lack %q", reason)
		}
	}
	userRejects, _ := os.ReadFile(filepath.Join(dir, "gcs", names.Bucket, "rejects", "users", "dt="+day, "users.jsonl"))
	if !strings.Contains(string(userRejects), "email fails email") {
		t.Errorf("user rejects = %s", userRejects)
	}
	if p := s.Polls[0].Poll; p.Valid != 1 || p.Rejected != 2 || p.Published != 1 {
		t.Errorf("poll %+v, want the 2 carts dated outside 1970-2099 rejected", p)
	}
	cartRejects, _ := os.ReadFile(filepath.Join(dir, "gcs", names.Bucket, "rejects", "carts", "dt="+day, "carts.jsonl"))
	if n := strings.Count(string(cartRejects), "date fails from1970to2099"); n != 2 {
		t.Errorf("cart rejects name the date %d times, want 2:\n%s", n, cartRejects)
	}
	// No password anywhere on disk.
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(path, ".duckdb") {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte("pw-1")) || bytes.Contains(b, []byte("pw-2")) {
			t.Errorf("%s contains a source password", path)
		}
		return nil
	})
}
