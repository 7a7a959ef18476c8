package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"cloud.google.com/go/storage"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/schema"
)

// damagedPartition is a partition of a raw snapshot table that no longer
// holds what its latest load recorded: rows deleted, or the table dropped
// (the warehouse creates it again, empty).
type damagedPartition struct {
	Entity string
	Date   time.Time
	// Object is the lake object the partition was loaded from
	// (gs://bucket/name), and Recorded the rows its load wrote.
	Object   string
	Recorded int64
	// Holds is how many rows the partition holds now.
	Holds int64
}

func (d damagedPartition) String() string {
	return fmt.Sprintf("%s dt=%s holds %d rows where its load of %s recorded %d",
		names.Raw(d.Entity), d.Date.Format(time.DateOnly), d.Holds, d.Object, d.Recorded)
}

// damagedPartitions compares the latest load of every partition recorded in
// _load_metadata with the rows the partition holds.
func damagedPartitions(ctx context.Context, db *sql.DB) ([]damagedPartition, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`select entity, partition_date, object_name, row_count from (
	select *, row_number() over (partition by entity, partition_date order by loaded_at desc, generation desc) as load_rank
	from %s
) where load_rank = 1 order by entity, partition_date`, names.Raw(schema.LoadMetadata)))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", schema.LoadMetadata, err)
	}
	var loads []damagedPartition
	for rows.Next() {
		var d damagedPartition
		if err := rows.Scan(&d.Entity, &d.Date, &d.Object, &d.Recorded); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read %s: %w", schema.LoadMetadata, err)
		}
		loads = append(loads, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", schema.LoadMetadata, err)
	}
	held := map[string]map[time.Time]int64{}
	var damaged []damagedPartition
	for _, d := range loads {
		if _, ok := schema.Lookup(d.Entity); !ok {
			return nil, fmt.Errorf("%s records a load into %q, which is no raw table", schema.LoadMetadata, d.Entity)
		}
		counts, ok := held[d.Entity]
		if !ok {
			if counts, err = rowsByDate(ctx, db, d.Entity); err != nil {
				return nil, err
			}
			held[d.Entity] = counts
		}
		if d.Holds = counts[d.Date]; d.Holds != d.Recorded {
			damaged = append(damaged, d)
		}
	}
	return damaged, nil
}

// rowsByDate counts a raw snapshot table's rows by partition date.
func rowsByDate(ctx context.Context, db *sql.DB, table string) (map[time.Time]int64, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf("select dt, count(*) from %s group by dt", names.Raw(table)))
	if err != nil {
		return nil, fmt.Errorf("count %s by dt: %w", names.Raw(table), err)
	}
	defer rows.Close()
	counts := map[time.Time]int64{}
	for rows.Next() {
		var (
			dt time.Time
			n  int64
		)
		if err := rows.Scan(&dt, &n); err != nil {
			return nil, fmt.Errorf("count %s by dt: %w", names.Raw(table), err)
		}
		counts[dt] = n
	}
	return counts, rows.Err()
}

// Forgetter forgets that objects were delivered, so that they are
// delivered again (emulation.Eventarc).
type Forgetter interface {
	Forget(objects ...string) error
}

// RepairSnapshots runs before the loads: every damaged partition of the
// warehouse db whose object the lake (bucket) still holds is delivered to
// LoadRawObject again: ea forgets it and its load record is removed, so the
// load runs, and replaces the partition. A partition whose object is gone
// cannot be repaired from the lake: the run stops and says so.
func RepairSnapshots(ctx context.Context, db *sql.DB, bucket *storage.BucketHandle, ea Forgetter, out io.Writer) error {
	damaged, err := damagedPartitions(ctx, db)
	if err != nil || len(damaged) == 0 {
		return err
	}
	var objects []string
	for _, d := range damaged {
		name, ok := strings.CutPrefix(d.Object, "gs://"+names.Bucket+"/")
		if !ok || !strings.HasPrefix(name, lake.RawPrefix) {
			return fmt.Errorf("%s, an object outside gs://%s/%s", d, names.Bucket, lake.RawPrefix)
		}
		if _, err := bucket.Object(name).Attrs(ctx); errors.Is(err, storage.ErrObjectNotExist) {
			return fmt.Errorf(`%s, and the lake no longer holds that object: "make run ARGS=--rebuild" rebuilds the warehouse from what the lake holds`, d)
		} else if err != nil {
			return fmt.Errorf("%s: look up the object: %w", d, err)
		}
		objects = append(objects, name)
	}
	// Eventarc forgets first: a run stopped in between finds the partition
	// damaged again, with its load record, and repairs it again.
	if err := ea.Forget(objects...); err != nil {
		return err
	}
	for i, d := range damaged {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("delete from %s where object_name = ?", names.Raw(schema.LoadMetadata)), d.Object); err != nil {
			return fmt.Errorf("forget the load of %s: %w", d.Object, err)
		}
		fmt.Fprintf(out, "snapshots: %s: delivering %s again\n", d, objects[i])
	}
	return nil
}
