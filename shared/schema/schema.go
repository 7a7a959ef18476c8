// Package schema holds the raw warehouse tables' schemas, declared once as
// BigQuery JSON schema files under tables/ and a manifest (tables.json) giving
// each table's description, partition column and clustering. Go embeds them
// here; Terraform and the dbt sources read the same files.
package schema

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
)

//go:embed tables.json tables/*.json
var files embed.FS

// Field is one column in BigQuery JSON schema format.
type Field struct {
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	Mode        string  `json:"mode,omitempty"`
	Description string  `json:"description,omitempty"`
	Fields      []Field `json:"fields,omitempty"`
}

// Table is one raw table: its manifest entry and its columns.
type Table struct {
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	PartitionField string   `json:"partition_field"`
	ClusterBy      []string `json:"cluster_by"`
	// Fields are the columns, in file order.
	Fields []Field `json:"-"`
	// JSON is the schema file's bytes, as BigQuery tools accept them.
	JSON []byte `json:"-"`
}

type manifest struct {
	Dataset string  `json:"dataset"`
	Tables  []Table `json:"tables"`
}

// raw is the parsed catalogue of raw tables. It is built once from embedded
// files; a malformed file is a build defect caught by this package's tests.
var raw = mustLoad()

func mustLoad() map[string]Table {
	tables, err := load()
	if err != nil {
		panic(err)
	}
	return tables
}

func load() (map[string]Table, error) {
	b, err := files.ReadFile("tables.json")
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	out := make(map[string]Table, len(m.Tables))
	for _, t := range m.Tables {
		b, err := files.ReadFile("tables/" + t.Name + ".json")
		if err != nil {
			return nil, fmt.Errorf("read schema of %s: %w", t.Name, err)
		}
		if err := json.Unmarshal(b, &t.Fields); err != nil {
			return nil, fmt.Errorf("parse schema of %s: %w", t.Name, err)
		}
		t.JSON = b
		out[t.Name] = t
	}
	return out, nil
}

// Lookup returns the raw table with the given name.
func Lookup(name string) (Table, bool) {
	t, ok := raw[name]
	return t, ok
}

// All returns every raw table, sorted by name.
func All() []Table {
	out := make([]Table, 0, len(raw))
	for _, t := range raw {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Table names used by the functions.
const (
	LoadMetadata       = "_load_metadata"
	PipelineRuns       = "pipeline_runs"
	CartEvents         = "cart_events"
	CartEventsRejected = "cart_events_rejected"
	RawDataset         = "bq_raw"
)
