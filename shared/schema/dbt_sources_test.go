package schema

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// TestDBTSourcesDocumentTheSchemaFiles keeps the dbt sources in step with the
// schema files: every raw table dbt reads lists exactly the schema's
// top-level columns, in order, with the schema's descriptions.
func TestDBTSourcesDocumentTheSchemaFiles(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../dbt/models/staging/_staging__sources.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Sources []struct {
			Name   string
			Schema string
			Tables []struct {
				Name    string
				Columns []struct{ Name, Description string }
			}
		}
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Sources) != 1 || doc.Sources[0].Schema != RawDataset {
		t.Fatalf("want one source on schema %s, got %+v", RawDataset, doc.Sources)
	}
	for _, st := range doc.Sources[0].Tables {
		tb, ok := Lookup(st.Name)
		if !ok {
			t.Errorf("dbt source %s has no schema file", st.Name)
			continue
		}
		type col struct{ Name, Description string }
		var want, got []col
		for _, f := range tb.Fields {
			want = append(want, col{f.Name, f.Description})
		}
		for _, c := range st.Columns {
			got = append(got, col{c.Name, c.Description})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("dbt source %s differs from shared/schema/tables/%s.json (-schema +dbt):\n%s", st.Name, st.Name, diff)
		}
	}
}
