// Package names holds the names the local wing gives the stand-ins of the
// cloud resources (project, bucket, datasets, topics and subscriptions, as
// Terraform names them in the cloud) and the run directory's files named in
// more than one place: each once.
package names

import "path/filepath"

// Local names of the cloud resources.
const (
	ProjectID   = "shoplake-local"
	Bucket      = "shoplake-raw"
	RawDataset  = "bq_raw"
	StateObject = "state/cart-poller.state"
)

// The run directory's files named in more than one place.
const (
	// WarehouseFile is the DuckDB warehouse (DuckDB writes its WAL beside
	// it, with ".wal" appended).
	WarehouseFile = "warehouse.duckdb"
)

// Raw is the qualified name of a raw table (one of shared/schema's), as
// the local warehouse's SQL names it: bq_raw.<table>.
func Raw(table string) string { return RawDataset + "." + table }

// Warehouse is the path of the warehouse file in the run directory dir.
func Warehouse(dir string) string { return filepath.Join(dir, WarehouseFile) }

// Local names of the Pub/Sub resources, as Terraform names them in the cloud.
const (
	Topic                  = "cart-events"
	Subscription           = "cart-events-stream"
	DeadLetterTopic        = "cart-events-dead-letter"
	DeadLetterSubscription = "cart-events-dead-letter-hold"
)
