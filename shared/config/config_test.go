package config

import (
	"strings"
	"testing"
	"time"
)

func TestReader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		wantErr []string
	}{
		{name: "all good", env: map[string]string{"BUCKET": "b", "N": "5", "D": "2m", "L": "warning", "F": "2.5"}},
		{name: "defaults", env: map[string]string{"BUCKET": "b"}},
		{
			name: "everything wrong is reported at once",
			env:  map[string]string{"BUCKET": "  ", "N": "many", "D": "-1s", "L": "loud", "F": "1e9"},
			wantErr: []string{
				"BUCKET: is required but not set",
				`N: must be a whole number from 1 to 10, got "many"`,
				`D: must be a positive duration such as 30s or 2m, got "-1s"`,
				`L: must be one of debug, info, warning, error, got "loud"`,
				`F: must be a number from 0 to 100, got "1e9"`,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewReader(Map(tc.env))
			r.Required("BUCKET")
			n := r.Int("N", 3, 1, 10)
			d := r.Duration("D", time.Minute)
			r.OneOf("L", "info", "debug", "info", "warning", "error")
			r.Float("F", 1, 0, 100)
			err := r.Err()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if tc.env["N"] == "" && (n != 3 || d != time.Minute) {
					t.Errorf("defaults not applied: %d %v", n, d)
				}
				return
			}
			if err == nil {
				t.Fatal("Err() = nil")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
