package transform

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/googleapis/gax-go/v2"
)

type fakeRunner struct {
	names []string
	err   error
}

func (f *fakeRunner) RunJob(_ context.Context, req *runpb.RunJobRequest, _ ...gax.CallOption) (*run.RunJobOperation, error) {
	f.names = append(f.names, req.GetName())
	return nil, f.err
}

func TestCloudRunJobStartsTheNamedJob(t *testing.T) {
	t.Parallel()
	f := &fakeRunner{}
	j := &CloudRunJob{client: f, name: "projects/p/locations/europe-west1/jobs/dbt"}
	if err := j.Start(context.Background(), "loaded gs://b/o"); err != nil {
		t.Fatal(err)
	}
	if len(f.names) != 1 || f.names[0] != "projects/p/locations/europe-west1/jobs/dbt" {
		t.Errorf("RunJob calls = %v", f.names)
	}
	f.err = errors.New("permission denied")
	if err := j.Start(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "jobs/dbt") {
		t.Errorf("error = %v", err)
	}
}

func TestNotConfiguredSaysSo(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	n := NotConfigured{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Hint: "set TRANSFORM_JOB"}
	if err := n.Start(context.Background(), "loaded x"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "transforms are not configured") {
		t.Errorf("log = %s", buf.String())
	}
}
