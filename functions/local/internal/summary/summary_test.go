package summary

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/local/internal/names"
)

func TestRejectedLineSaysWhyAndWhere(t *testing.T) {
	t.Parallel()
	s := &Summary{Dir: "/run"}
	where := ": see gs://" + names.Bucket + "/rejects/products/ (/run/gcs/" + names.Bucket + "/rejects/products)"
	cases := []struct {
		name    string
		n       int64
		reasons map[string]int64
		want    string
	}{
		{"no reasons recorded", 2, nil, "rejected  2 products record(s)" + where},
		{"one kind", 1, map[string]int64{"products: invalid record: id listed again in the same listing; the first listing is kept": 1},
			"rejected  1 products record(s) (1 id listed again in the same listing; the first listing is kept)" + where},
		{"most frequent first, three at most", 10, map[string]int64{
			"invalid record: title fails notblank": 2, "invalid record: price fails gte=0": 5,
			"invalid record: id fails gt=0": 2, "record # is # bytes, over the # limit": 1,
		}, "rejected  10 products record(s) (5 price fails gte=0; 2 id fails gt=0; 2 title fails notblank; 1 more kind(s) of reason)" + where},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := s.rejectedLine("products", tc.n, tc.reasons); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestFailedReportsAFailureToWriteTheSummary: a run that failed and could
// not even keep its summary says both.
func TestFailedReportsAFailureToWriteTheSummary(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing", "dir")
	s := &Summary{Dir: dir}
	_, err := s.Failed(time.Now(), errors.New("dbt build failed"))
	if err == nil || !strings.Contains(err.Error(), "dbt build failed") || !strings.Contains(err.Error(), "write run summary") {
		t.Errorf("error %v, want the run's failure and the summary's", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "last-run.json")); statErr == nil {
		t.Error("a summary was written where none could be")
	}
}
