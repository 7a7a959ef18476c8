package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/storefront"
)

// rawState is what a run leaves for the next one: the rows of the raw
// tables (cart events counted once per event id), and every lake object
// under raw/ and state/ with its content hash.
type rawState struct {
	Rows map[string]int64
	Lake map[string]string
}

func readRawState(t *testing.T, dir string) rawState {
	t.Helper()
	st := rawState{Rows: counts(t, dir), Lake: map[string]string{}}
	db := openWarehouse(t, dir)
	defer db.Close()
	var events int64
	if err := db.QueryRow("select count(distinct event_id) from bq_raw.cart_events").Scan(&events); err != nil {
		t.Fatal(err)
	}
	st.Rows["cart_events"] = events
	root := filepath.Join(dir, "gcs", names.Bucket)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if !strings.HasPrefix(rel, "raw/") && !strings.HasPrefix(rel, "state/") {
			return nil
		}
		b, err := os.ReadFile(path)
		sum := sha256.Sum256(b)
		st.Lake[rel] = hex.EncodeToString(sum[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// baseline is one clean run on the fixtures, shared by the fault tests:
// each copies its directory and runs from there.
var baseline struct {
	once  sync.Once
	dir   string
	state rawState
	err   string
}

// cleanBaseline is the run directory of one clean run of the fixtures,
// shared by the tests that damage a copy of it; under -short it skips the
// test instead.
func cleanBaseline(t *testing.T) (string, rawState) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	baseline.once.Do(func() {
		dir, err := os.MkdirTemp("", "shoplake-baseline-")
		if err != nil {
			baseline.err = err.Error()
			return
		}
		if r := runLocal(t, dir, nil, "--port", "0"); r.code != 0 {
			baseline.err = "clean run failed:\n" + r.stdout + r.stderr
			return
		}
		baseline.dir, baseline.state = dir, readRawState(t, dir)
	})
	if baseline.err != "" {
		t.Fatal(baseline.err)
	}
	return baseline.dir, baseline.state
}

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "run")
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return to
}

// TestRunAgainstMisbehavingSources runs the pipeline against the built-in
// API misbehaving in each way a real one does (storefront.Fault). A
// transient fault is retried, and the run ends as a clean one does; a
// refused answer fails the run with a message that names it, and changes
// nothing an earlier run left.
func TestRunAgainstMisbehavingSources(t *testing.T) {
	t.Parallel()
	_, clean := cleanBaseline(t)
	cases := []struct {
		fault storefront.Fault
		env   []string
		// wantErr, when set, is what the failed run's message says;
		// otherwise the run succeeds with the clean run's raw rows.
		wantErr string
		// within, when set, bounds the run's time: what the README
		// promises for the fault.
		within time.Duration
	}{
		{fault: storefront.Fault503Once},
		{fault: storefront.Fault429Storm},
		{fault: storefront.FaultCutOff},
		{fault: storefront.FaultReset},
		{fault: storefront.FaultDrip},
		{fault: storefront.FaultHugeRecord},
		{fault: storefront.FaultRepeat},
		// The first request of each path drips; SOURCE_TIMEOUT=5s finds
		// it too slow, and the retry reads the answer whole. Each of the
		// three dripped requests costs at most SOURCE_TIMEOUT, one gap
		// between bytes and one backoff (under 1 s): 24 s over a clean run.
		{fault: storefront.FaultByteEvery2s, env: []string{"SOURCE_TIMEOUT=5s"}, within: 24*time.Second + 20*time.Second},
		{fault: storefront.FaultByteEvery200ms, env: []string{"SOURCE_TIMEOUT=5s"}, within: 19*time.Second + 20*time.Second},
		{fault: storefront.FaultByteEvery2s, env: []string{"SOURCE_TIMEOUT=5s", "SOURCE_MAX_RETRIES=-1"},
			wantErr: "is too slow: source check: gave up after 1 attempt in", within: 8 * time.Second},
		{fault: storefront.FaultSlow, env: []string{"SOURCE_TIMEOUT=300ms", "SOURCE_MAX_RETRIES=1"},
			wantErr: "source check: gave up after 2 attempts"},
		{fault: storefront.FaultHTML, wantErr: "does not speak the FakeStore API"},
		{fault: storefront.FaultObject, wantErr: "does not speak the FakeStore API"},
		{fault: storefront.FaultEmpty, wantErr: "listing collapsed: products came back empty where the last accepted listing had 20"},
		{fault: storefront.FaultShrink, wantErr: "listing collapsed: products fell from 20 to 2 records (-90%)"},
	}
	tested := map[storefront.Fault]bool{}
	for _, tc := range cases {
		tested[tc.fault] = true
	}
	for _, f := range storefront.Faults {
		if !tested[f] {
			t.Errorf("no case for the fault %s: test every fault", f)
		}
	}
	for _, tc := range cases {
		t.Run(strings.Join(append([]string{string(tc.fault)}, tc.env...), " "), func(t *testing.T) {
			t.Parallel()
			if tc.wantErr == "" {
				dir := t.TempDir()
				r := runFaulty(t, dir, tc.fault, tc.env, tc.within)
				if r.code != 0 {
					t.Fatalf("exit %d, want 0 after retries\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
				}
				if diff := cmp.Diff(clean.Rows, readRawState(t, dir).Rows); diff != "" {
					t.Errorf("raw rows differ from a clean run's (-clean +got):\n%s", diff)
				}
				switch tc.fault {
				case storefront.FaultHugeRecord:
					assertHugeRecordQuarantined(t, dir, r.stdout)
				case storefront.FaultRepeat:
					assertRepeatsQuarantined(t, dir)
				}
				return
			}
			base, _ := cleanBaseline(t)
			dir := copyDir(t, base)
			before := readRawState(t, dir)
			r := runFaulty(t, dir, tc.fault, tc.env, tc.within)
			if r.code == 0 || !strings.Contains(r.stderr, tc.wantErr) {
				t.Fatalf("exit %d, want non-zero with %q\nstdout:\n%s\nstderr:\n%s", r.code, tc.wantErr, r.stdout, r.stderr)
			}
			if diff := cmp.Diff(before, readRawState(t, dir)); diff != "" {
				t.Errorf("the refused run changed what the last run left (-before +after):\n%s", diff)
			}
		})
	}
}

// runFaulty runs the pipeline against the built-in API misbehaving with
// fault, and checks that it took no longer than within (when set).
func runFaulty(t *testing.T, dir string, fault storefront.Fault, env []string, within time.Duration) result {
	t.Helper()
	began := time.Now()
	r := runLocal(t, dir, env, "--port", "0", "--source-fault", string(fault))
	took := time.Since(began)
	t.Logf("the run took %s: %s", took.Round(100*time.Millisecond), strings.TrimSpace(r.stderr))
	if within > 0 && took > within {
		t.Errorf("the run took %s, past the %s its settings allow", took, within)
	}
	return r
}

// assertHugeRecordQuarantined checks that the 64 MiB product was
// quarantined by its size and reason, without its content.
func assertHugeRecordQuarantined(t *testing.T, dir, stdout string) {
	t.Helper()
	s := lastRun(t, dir)
	if e := s.Ingest.Entities[0]; e.Entity != "products" || e.Rejected != 1 || e.Valid != 20 {
		t.Errorf("products: %+v, want 20 valid and 1 rejected", e)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "gcs", names.Bucket, "rejects", "products", "dt=*", "products.jsonl"))
	if len(matches) != 1 {
		t.Fatalf("rejects objects %v, want one", matches)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := "record 1 is 67108864 bytes, over the 16777216-byte limit"; !strings.Contains(string(b), want) || len(b) > 4096 {
		t.Errorf("rejects object of %d bytes: %.300s; want the reason %q and no content", len(b), b, want)
	}
}

// assertRepeatsQuarantined checks that the second listing of the first
// product, user and cart was quarantined and counted, and the first kept
// (the raw rows equal a clean run's, checked by the caller).
func assertRepeatsQuarantined(t *testing.T, dir string) {
	t.Helper()
	s := lastRun(t, dir)
	for _, e := range s.Ingest.Entities {
		if e.Rejected != 1 || e.RejectReasons[e.Entity+": invalid record: id listed again in the same listing; the first listing is kept"] != 1 {
			t.Errorf("%s: %+v, want the repeat rejected", e.Entity, e)
		}
	}
	if p := s.Polls[0].Poll; p.Rejected != 1 || p.Valid != 7 || p.Published != 7 {
		t.Errorf("first poll: %+v, want 7 carts published and the repeat rejected", p)
	}
	for _, entity := range []string{"products", "users", "carts"} {
		matches, _ := filepath.Glob(filepath.Join(dir, "gcs", names.Bucket, "rejects", entity, "dt=*", entity+".jsonl"))
		if len(matches) != 1 {
			t.Errorf("%s rejects objects %v, want one", entity, matches)
		}
	}
}

// TestAllowShrinkAcceptsARealShrink: the same shrink goes through when the
// run says it is real.
func TestAllowShrinkAcceptsARealShrink(t *testing.T) {
	t.Parallel()
	base, _ := cleanBaseline(t)
	dir := copyDir(t, base)
	r := runLocal(t, dir, nil, "--port", "0", "--source-fault", string(storefront.FaultShrink), "--allow-shrink")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := counts(t, dir); got["products"] != 2 || got["users"] != 1 {
		t.Errorf("raw rows %v, want today's snapshots of 2 products and 1 user", got)
	}
	if p := lastRun(t, dir).Polls[0].Poll; p.Deleted != 6 {
		t.Errorf("poll %+v, want the 6 carts no longer listed tombstoned", p)
	}
}
