// Package duckdb is the local warehouse: a DuckDB database file whose schemas
// are named like the BigQuery datasets (bq_raw, …) and whose raw tables are
// created from the same schema files. It replaces a day's partition of a raw
// table in one transaction, mirroring the BigQuery adapter's WRITE_TRUNCATE on
// a partition decorator.
//
// Only the local runner imports this package: it needs cgo, and a test keeps
// it out of every deployed function.
package duckdb

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver

	"github.com/shoplake/shoplake/shared/schema"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// ObjectReader opens one generation of a lake object.
type ObjectReader interface {
	Open(ctx context.Context, bucket, object string, generation int64) (io.ReadCloser, error)
}

// BucketObjects is the ObjectReader of a Cloud Storage client (fake-gcs-server
// locally): the warehouse reads lake objects as BigQuery reads gs:// URIs.
type BucketObjects struct{ Client *storage.Client }

// Open implements ObjectReader.
func (b BucketObjects) Open(ctx context.Context, bucket, object string, generation int64) (io.ReadCloser, error) {
	return b.Client.Bucket(bucket).Object(object).Generation(generation).NewReader(ctx)
}

// Config configures a Warehouse.
type Config struct {
	// Path is the database file; empty means an in-memory database.
	Path string
	// Dataset is the raw schema's name, such as bq_raw.
	Dataset string
	// MemoryLimit bounds DuckDB's own memory (its memory_limit setting,
	// such as "256MB"); beyond it DuckDB spills to disk. Empty keeps
	// DuckDB's default, 80% of the machine's memory.
	MemoryLimit string
}

// Warehouse is the DuckDB adapter.
type Warehouse struct {
	db      *sql.DB
	objects ObjectReader
	dataset string
	// appendMu lets one append run at a time: DuckDB commits them one by one
	// anyway, and each append in flight holds read buffers of its own,
	// which under a memory limit made concurrent appends fail.
	appendMu sync.Mutex
}

var ident = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// ErrLocked reports a database file another process holds open: DuckDB
// lets one process write a file at a time.
var ErrLocked = errors.New("the database file is locked by another process")

// lockedMessage is how DuckDB says another process holds the file's lock
// (an IO error whose message names the file and the other process).
const lockedMessage = "Conflicting lock is held"

// locked marks err with ErrLocked when DuckDB refused the file because
// another process holds it. The driver reports that as text ("could not
// connect to database: IO Error: … Conflicting lock is held in …"), not as
// a typed error: its exact phrase is the one sign.
func locked(err error) error {
	if strings.Contains(err.Error(), lockedMessage) {
		return fmt.Errorf("%w: %w", ErrLocked, err)
	}
	return err
}

// Open opens (creating if needed) the database and its raw tables. A file
// another process holds is an error wrapping ErrLocked.
func Open(ctx context.Context, cfg Config, objects ObjectReader) (*Warehouse, error) {
	if !ident.MatchString(cfg.Dataset) {
		return nil, fmt.Errorf("duckdb warehouse: invalid dataset name %q", cfg.Dataset)
	}
	dsn := cfg.Path
	if cfg.MemoryLimit != "" {
		dsn += "?" + url.Values{"memory_limit": {cfg.MemoryLimit}}.Encode()
	}
	db, err := sql.Open("duckdb", dsn)
	if err != nil {
		return nil, fmt.Errorf("open duckdb %s: %w", cfg.Path, locked(err))
	}
	w := &Warehouse{db: db, objects: objects, dataset: cfg.Dataset}
	if err := w.migrate(ctx); err != nil {
		db.Close()
		return nil, locked(err)
	}
	return w, nil
}

// Close releases the database file.
func (w *Warehouse) Close() error { return w.db.Close() }

// DB returns the database handle, for the local runner's reports and tests.
func (w *Warehouse) DB() *sql.DB { return w.db }

func (w *Warehouse) migrate(ctx context.Context) error {
	if _, err := w.db.ExecContext(ctx, "create schema if not exists "+w.dataset); err != nil {
		return fmt.Errorf("create schema %s: %w", w.dataset, err)
	}
	existing, err := w.columns(ctx)
	if err != nil {
		return err
	}
	for _, t := range schema.All() {
		have, made := existing[t.Name]
		if !made {
			ddl, err := createTable(w.dataset, t)
			if err != nil {
				return err
			}
			if _, err := w.db.ExecContext(ctx, ddl); err != nil {
				return fmt.Errorf("create table %s.%s: %w", w.dataset, t.Name, err)
			}
			continue
		}
		// A nullable column added to the schema since the table was made
		// is added to it, and a required column the schema relaxed to
		// nullable is relaxed, as BigQuery allows (Terraform's schema
		// update).
		for _, f := range t.Fields {
			nullable, ok := have[f.Name]
			if ok && !nullable && f.Mode != "REQUIRED" {
				if _, err := w.db.ExecContext(ctx, fmt.Sprintf("alter table %s.%s alter column %s drop not null", w.dataset, quote(t.Name), quote(f.Name))); err != nil {
					return fmt.Errorf("relax column %s of %s.%s: %w", f.Name, w.dataset, t.Name, err)
				}
			}
			if f.Mode == "REQUIRED" || ok {
				continue
			}
			typ, err := columnType(f)
			if err != nil {
				return err
			}
			if _, err := w.db.ExecContext(ctx, fmt.Sprintf("alter table %s.%s add column %s %s", w.dataset, quote(t.Name), quote(f.Name), typ)); err != nil {
				return fmt.Errorf("add column %s to %s.%s: %w", f.Name, w.dataset, t.Name, err)
			}
		}
	}
	return nil
}

// columns returns the columns of every table of the raw dataset: table →
// column → whether it is nullable.
func (w *Warehouse) columns(ctx context.Context) (map[string]map[string]bool, error) {
	rows, err := w.db.QueryContext(ctx, `select table_name, column_name, is_nullable from duckdb_columns() where schema_name = ?`, w.dataset)
	if err != nil {
		return nil, fmt.Errorf("list the columns of %s: %w", w.dataset, err)
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var table, column string
		var nullable bool
		if err := rows.Scan(&table, &column, &nullable); err != nil {
			return nil, fmt.Errorf("list the columns of %s: %w", w.dataset, err)
		}
		if out[table] == nil {
			out[table] = map[string]bool{}
		}
		out[table][column] = nullable
	}
	return out, rows.Err()
}

// createTable renders CREATE TABLE for a schema table. Every identifier comes
// from the embedded schema files and is checked against ident.
func createTable(dataset string, t schema.Table) (string, error) {
	cols := make([]string, 0, len(t.Fields))
	for _, f := range t.Fields {
		typ, err := columnType(f)
		if err != nil {
			return "", fmt.Errorf("table %s: %w", t.Name, err)
		}
		col := quote(f.Name) + " " + typ
		if f.Mode == "REQUIRED" {
			col += " not null"
		}
		cols = append(cols, col)
	}
	return fmt.Sprintf("create table if not exists %s.%s (\n  %s\n)", dataset, quote(t.Name), strings.Join(cols, ",\n  ")), nil
}

// columnType maps a BigQuery field to its DuckDB type.
func columnType(f schema.Field) (string, error) {
	if !ident.MatchString(f.Name) {
		return "", fmt.Errorf("column name %q is not a plain identifier", f.Name)
	}
	var typ string
	switch f.Type {
	case "STRING":
		typ = "varchar"
	case "INT64", "INTEGER":
		typ = "bigint"
	case "FLOAT64", "FLOAT":
		typ = "double"
	case "NUMERIC":
		typ = "decimal(38, 9)"
	case "JSON":
		typ = "json"
	case "BOOL", "BOOLEAN":
		typ = "boolean"
	case "DATE":
		typ = "date"
	case "TIMESTAMP":
		typ = "timestamp" // UTC, as BigQuery TIMESTAMP
	case "RECORD":
		parts := make([]string, 0, len(f.Fields))
		for _, sub := range f.Fields {
			st, err := columnType(sub)
			if err != nil {
				return "", err
			}
			parts = append(parts, quote(sub.Name)+" "+st)
		}
		typ = "struct(" + strings.Join(parts, ", ") + ")"
	default:
		return "", fmt.Errorf("column %s: unsupported type %s", f.Name, f.Type)
	}
	if f.Mode == "REPEATED" {
		typ += "[]"
	}
	return typ, nil
}

func quote(name string) string { return `"` + name + `"` }

// readJSONColumns renders the columns argument of read_json for a table.
func readJSONColumns(t schema.Table) (string, error) {
	parts := make([]string, 0, len(t.Fields))
	for _, f := range t.Fields {
		typ, err := columnType(f)
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("'%s': '%s'", f.Name, typ))
	}
	return "{" + strings.Join(parts, ", ") + "}", nil
}

// LoadPartition replaces the partition req.Day of req.Table with the rows of
// the object, in one transaction, and returns how many rows it wrote. Like a
// BigQuery load into table$YYYYMMDD, it fails if any row's partition column
// is outside that day.
func (w *Warehouse) LoadPartition(ctx context.Context, req warehouse.LoadRequest) (int64, error) {
	t, ok := schema.Lookup(req.Table)
	if !ok {
		return 0, fmt.Errorf("no schema for table %q", req.Table)
	}
	path, err := w.download(ctx, req)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)

	table := w.dataset + "." + quote(t.Name)
	part := quote(t.PartitionField)
	day := req.Day.Format("2006-01-02")
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin load of %s: %w", req.URI(), err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "delete from "+table+" where "+part+" = ?::date", day); err != nil {
		return 0, fmt.Errorf("clear %s partition %s: %w", t.Name, day, err)
	}
	rows, err := insertJSON(ctx, tx, w.dataset, t, path)
	if err != nil {
		return 0, fmt.Errorf("load %s into %s: %w: %w", req.URI(), t.Name, warehouse.ErrInvalidData, err)
	}
	var inDay int64
	if err := tx.QueryRowContext(ctx, "select count(*) from "+table+" where "+part+" = ?::date", day).Scan(&inDay); err != nil {
		return 0, fmt.Errorf("check %s partition %s: %w", t.Name, day, err)
	}
	if inDay != rows {
		return 0, fmt.Errorf("load %s into %s: %w: %d of %d rows are outside partition %s", req.URI(), t.Name, warehouse.ErrInvalidData, rows-inDay, rows, day)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit load of %s: %w", req.URI(), err)
	}
	return rows, nil
}

// insertJSON appends the NDJSON file at path to table t, typed by t's schema,
// and returns how many rows it inserted.
func insertJSON(ctx context.Context, tx *sql.Tx, dataset string, t schema.Table, path string) (int64, error) {
	columns, err := readJSONColumns(t)
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, "insert into "+dataset+"."+quote(t.Name)+" by name select * from read_json(?, format = 'newline_delimited', columns = "+columns+")", path)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// appendRows inserts rows, JSON-encoded, into a raw table in one transaction.
func (w *Warehouse) appendRows(ctx context.Context, table string, rows []any) error {
	t, ok := schema.Lookup(table)
	if !ok {
		return fmt.Errorf("no schema for table %q", table)
	}
	f, err := os.CreateTemp("", "shoplake-insert-*.jsonl")
	if err != nil {
		return fmt.Errorf("stage rows for %s: %w", table, err)
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 256<<10)
	enc := json.NewEncoder(bw)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return fmt.Errorf("encode row for %s: %w", table, err)
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("stage rows for %s: %w", table, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("stage rows for %s: %w", table, err)
	}
	w.appendMu.Lock()
	defer w.appendMu.Unlock()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	defer tx.Rollback()
	if _, err := insertJSON(ctx, tx, w.dataset, t, f.Name()); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// InsertCartEvents appends cart event rows in one transaction. Like the
// BigQuery raw table, it keeps duplicates; stg_cart_events removes them. It
// fails as a whole (rows are validated before they get here), so the
// per-row result is always nil when err is nil.
func (w *Warehouse) InsertCartEvents(ctx context.Context, rows []warehouse.CartEventRow) ([]error, error) {
	vals := make([]any, len(rows))
	for i := range rows {
		vals[i] = rows[i]
	}
	if err := w.appendRows(ctx, schema.CartEvents, vals); err != nil {
		return nil, err
	}
	return make([]error, len(rows)), nil
}

// InsertRejectedEvents appends rows to cart_events_rejected.
func (w *Warehouse) InsertRejectedEvents(ctx context.Context, rows []warehouse.RejectedEvent) error {
	vals := make([]any, len(rows))
	for i := range rows {
		vals[i] = rows[i]
	}
	return w.appendRows(ctx, schema.CartEventsRejected, vals)
}

// download copies the object generation to a temporary file for read_json.
func (w *Warehouse) download(ctx context.Context, req warehouse.LoadRequest) (string, error) {
	r, err := w.objects.Open(ctx, req.Bucket, req.Object, req.Generation)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", req.URI(), err)
	}
	defer r.Close()
	f, err := os.CreateTemp("", "shoplake-load-*.jsonl")
	if err != nil {
		return "", fmt.Errorf("stage %s: %w", req.URI(), err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("download %s: %w", req.URI(), err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("stage %s: %w", req.URI(), err)
	}
	return f.Name(), nil
}

// Loaded reports whether _load_metadata records a load of object with md5.
func (w *Warehouse) Loaded(ctx context.Context, object, md5 string) (bool, error) {
	var n int64
	err := w.db.QueryRowContext(ctx, "select count(*) from "+w.dataset+"."+quote(schema.LoadMetadata)+" where object_name = ? and md5 = ?", object, md5).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up %s in %s: %w", object, schema.LoadMetadata, err)
	}
	return n > 0, nil
}

// RecordLoad appends a _load_metadata row unless one exists for the same
// object generation (the local equivalent of the BigQuery insert id).
func (w *Warehouse) RecordLoad(ctx context.Context, rec warehouse.LoadRecord) error {
	_, err := w.db.ExecContext(ctx, "insert into "+w.dataset+"."+quote(schema.LoadMetadata)+
		" select ?, ?, ?, ?, ?::date, ?, ?, ? where not exists (select 1 from "+w.dataset+"."+quote(schema.LoadMetadata)+" where object_name = ? and generation = ?)",
		rec.ObjectName, rec.Generation, rec.MD5, rec.Entity, rec.PartitionDate, rec.RowCount, rec.RunID, rec.LoadedAt.UTC(),
		rec.ObjectName, rec.Generation)
	if err != nil {
		return fmt.Errorf("insert into %s: %w", schema.LoadMetadata, err)
	}
	return nil
}

// RecordRun appends a pipeline_runs row unless the run id is already there.
func (w *Warehouse) RecordRun(ctx context.Context, run warehouse.Run) error {
	_, err := w.db.ExecContext(ctx, "insert into "+w.dataset+"."+quote(schema.PipelineRuns)+
		" select ?, ?, ?, ?, ?, ?, ?, ?, ?, ? where not exists (select 1 from "+w.dataset+"."+quote(schema.PipelineRuns)+" where run_id = ?)",
		run.RunID, run.Function, run.StartedAt.UTC(), run.FinishedAt.UTC(), run.Status,
		run.RecordsIn, run.RecordsOut, run.RecordsRejected, nullable(run.Error), nullable(run.Details), run.RunID)
	if err != nil {
		return fmt.Errorf("insert into %s: %w", schema.PipelineRuns, err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CountRows returns the number of rows in a table of the raw schema.
func (w *Warehouse) CountRows(ctx context.Context, table string) (int64, error) {
	if _, ok := schema.Lookup(table); !ok {
		return 0, errors.New("unknown table " + table)
	}
	var n int64
	if err := w.db.QueryRowContext(ctx, "select count(*) from "+w.dataset+"."+quote(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}
