package schema

import (
	"slices"
	"testing"
)

func TestTablesAreConsistent(t *testing.T) {
	t.Parallel()

	want := []string{"_load_metadata", "canonical_customers", "canonical_orders", "canonical_products", "cart_events", "cart_events_rejected", "pipeline_runs", "products", "users"}
	var got []string
	for _, tb := range All() {
		got = append(got, tb.Name)
		if tb.Description == "" {
			t.Errorf("%s: no description", tb.Name)
		}
		names := topLevel(tb.Fields)
		if !slices.Contains(names, tb.PartitionField) {
			t.Errorf("%s: partition field %q is not a column", tb.Name, tb.PartitionField)
		}
		for _, c := range tb.ClusterBy {
			if !slices.Contains(names, c) {
				t.Errorf("%s: cluster field %q is not a column", tb.Name, c)
			}
		}
		checkFields(t, tb.Name, tb.Fields)
	}
	if !slices.Equal(want, got) {
		t.Errorf("tables = %v, want %v", got, want)
	}
}

func topLevel(fs []Field) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func checkFields(t *testing.T, table string, fs []Field) {
	t.Helper()
	known := []string{"STRING", "INT64", "FLOAT64", "NUMERIC", "BOOL", "DATE", "TIMESTAMP", "RECORD", "JSON"}
	for _, f := range fs {
		if !slices.Contains(known, f.Type) {
			t.Errorf("%s.%s: type %q is not one the adapters map", table, f.Name, f.Type)
		}
		if f.Description == "" {
			t.Errorf("%s.%s: no description", table, f.Name)
		}
		if (f.Type == "RECORD") != (len(f.Fields) > 0) {
			t.Errorf("%s.%s: RECORD type and nested fields disagree", table, f.Name)
		}
		checkFields(t, table+"."+f.Name, f.Fields)
	}
}
