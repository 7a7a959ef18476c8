package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoggerWritesCloudLoggingJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := New(&buf, slog.LevelDebug).With(Labels("run-1", "IngestBatch"), Trace("proj", "4bf92f3577b34da6a3ce929d0e0e4736"))
	logger.Warn("source slow", "entity", "products", "error", errors.New("boom"))

	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	delete(got, "time")
	want := map[string]any{
		"severity": "WARNING",
		"message":  "source slow",
		"entity":   "products",
		"error":    "boom",
		TraceKey:   "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736",
		LabelsKey:  map[string]any{"run_id": "run-1", "function": "IngestBatch"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entry (-want +got):\n%s", diff)
	}
}

func TestTraceID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"traceparent", http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"cloud trace context", http.Header{"X-Cloud-Trace-Context": {"105445AA7843BC8BF206B12000100000/1;o=1"}}, "105445aa7843bc8bf206b12000100000"},
		{"malformed", http.Header{"Traceparent": {"garbage"}, "X-Cloud-Trace-Context": {"short/1"}}, ""},
		{"none", http.Header{}, ""},
	}
	for _, tc := range cases {
		if got := TraceID(tc.header); got != tc.want {
			t.Errorf("%s: TraceID = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "warning": slog.LevelWarn, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error(`ParseLevel("loud") succeeded`)
	}
}
