package setup

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/warehouse"
)

type testConfig struct{ config.Platform }

func loadTest(lookup config.Lookup) (testConfig, error) {
	r := config.NewReader(lookup)
	cfg := testConfig{Platform: r.Platform()}
	return cfg, r.Err()
}

// fakeWarehouse satisfies Warehouse; none of its methods is called here.
type fakeWarehouse struct{ Warehouse }

type fakeTransform struct{}

func (fakeTransform) Start(context.Context, string) error { return nil }

func TestBuild(t *testing.T) {
	t.Parallel()
	good := config.Map(map[string]string{"PROJECT_ID": "p", "RAW_BUCKET": "b"})
	wh := &fakeWarehouse{}
	tests := []struct {
		name    string
		lookup  config.Lookup
		ov      *Overrides
		build   func(testConfig, *Env) (string, error)
		want    string
		wantErr string
	}{
		{
			name: "configuration errors come first", lookup: config.Map(nil),
			build:   func(testConfig, *Env) (string, error) { t.Error("built with a bad configuration"); return "", nil },
			wantErr: "RAW_BUCKET: is required",
		},
		{
			name: "overrides replace the warehouse and the transform", lookup: good,
			ov: &Overrides{Warehouse: wh, Transform: fakeTransform{}, LogOutput: &bytes.Buffer{}},
			build: func(_ testConfig, env *Env) (string, error) {
				if env.Warehouse() != Warehouse(wh) {
					return "", errors.New("warehouse not overridden")
				}
				if _, ok := env.Transform("projects/p/locations/r/jobs/j").(fakeTransform); !ok {
					return "", errors.New("transform not overridden")
				}
				return "built", nil
			},
			want: "built",
		},
		{
			name: "no job: transforms are reported as not configured", lookup: good,
			ov: &Overrides{LogOutput: &bytes.Buffer{}},
			build: func(_ testConfig, env *Env) (string, error) {
				if err := env.Transform("").Start(context.Background(), "x"); err != nil {
					return "", err
				}
				return "ok", nil
			},
			want: "ok",
		},
		{
			name: "a client that cannot be built is the error", lookup: good,
			build: func(_ testConfig, env *Env) (string, error) {
				env.fail(errors.New("storage client: no credentials"))
				if env.Lake() != nil || env.Warehouse() != nil || env.PubSub() != nil {
					return "", errors.New("built clients after a failure")
				}
				return "half-built", nil
			},
			wantErr: "storage client: no credentials",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Build(context.Background(), tt.lookup, tt.ov, loadTest, tt.build)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Build = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

var _ warehouse.RunRecorder = Warehouse(nil)
