package bigquery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"cloud.google.com/go/bigquery/storage/managedwriter/adapt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/schema"
	"github.com/shoplake/shoplake/shared/warehouse"
)

// streamWriter appends rows to one raw table through the BigQuery Storage
// Write API's default stream: committed as soon as the append is
// acknowledged, at-least-once (a retried append may store rows twice, which
// the staging models deduplicate by event_id). Rows are encoded as proto2
// messages whose descriptor is derived from the table's JSON schema, so the
// Go code, Terraform and the writer agree on one schema. The stream (and its
// gRPC connection) is opened on first use and reused by every later call,
// across the invocations one instance serves.
type streamWriter struct {
	client *managedwriter.Client
	table  string // projects/…/datasets/…/tables/…
	name   string // the table's short name, for errors
	md     protoreflect.MessageDescriptor
	dp     *descriptorpb.DescriptorProto

	mu     sync.Mutex
	stream *managedwriter.ManagedStream
}

// newStreamWriter prepares a writer for the raw table name.
func newStreamWriter(client *managedwriter.Client, projectID, dataset, name string) (*streamWriter, error) {
	sch, err := tableSchema(name)
	if err != nil {
		return nil, err
	}
	ts, err := adapt.BQSchemaToStorageTableSchema(legacyTypes(sch))
	if err != nil {
		return nil, fmt.Errorf("storage schema of %s: %w", name, err)
	}
	d, err := adapt.StorageSchemaToProto2Descriptor(ts, "root")
	if err != nil {
		return nil, fmt.Errorf("proto descriptor of %s: %w", name, err)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("proto descriptor of %s is not a message", name)
	}
	dp, err := adapt.NormalizeDescriptor(md)
	if err != nil {
		return nil, fmt.Errorf("normalize descriptor of %s: %w", name, err)
	}
	return &streamWriter{
		client: client, table: managedwriter.TableParentFromParts(projectID, dataset, name), name: name, md: md, dp: dp,
	}, nil
}

// legacyTypes returns a copy of sch with the standard SQL type names of the
// schema files (INT64, FLOAT64, BOOL) replaced by the legacy ones the
// adapt package converts (INTEGER, FLOAT, BOOLEAN); BigQuery treats them as
// the same types.
func legacyTypes(sch bigquery.Schema) bigquery.Schema {
	out := make(bigquery.Schema, len(sch))
	for i, f := range sch {
		c := *f
		switch c.Type {
		case "INT64":
			c.Type = bigquery.IntegerFieldType
		case "FLOAT64":
			c.Type = bigquery.FloatFieldType
		case "BOOL":
			c.Type = bigquery.BooleanFieldType
		}
		c.Schema = legacyTypes(f.Schema)
		out[i] = &c
	}
	return out
}

// open returns the writer's managed stream, opening it on first use.
func (s *streamWriter) open(ctx context.Context) (*managedwriter.ManagedStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil {
		return s.stream, nil
	}
	// The stream outlives this call: it is bound to the client's context,
	// not the request's.
	ms, err := s.client.NewManagedStream(context.WithoutCancel(ctx),
		managedwriter.WithDestinationTable(s.table),
		managedwriter.WithType(managedwriter.DefaultStream),
		managedwriter.WithSchemaDescriptor(s.dp),
		managedwriter.EnableWriteRetries(true),
	)
	if err != nil {
		return nil, fmt.Errorf("open write stream to %s: %w", s.name, err)
	}
	s.stream = ms
	return ms, nil
}

// append writes rows in one request. Its error is a failure of the whole
// request, worth retrying (the client has already retried transient
// failures a few times). Otherwise it returns one result per row: nil when
// stored; an error wrapping warehouse.ErrInvalidData for a row that could
// not be encoded or that BigQuery refused; warehouse.ErrRowNotAttempted for
// a valid row of a request another row made fail (none is stored then).
func (s *streamWriter) append(ctx context.Context, rows []map[string]bigquery.Value) ([]error, error) {
	perRow := make([]error, len(rows))
	encoded := make([][]byte, 0, len(rows))
	index := make([]int, 0, len(rows)) // rows' index of each encoded row
	for i, r := range rows {
		b, err := encodeRow(s.md, r)
		if err != nil {
			perRow[i] = fmt.Errorf("%w: %s row: %v", warehouse.ErrInvalidData, s.name, err)
			continue
		}
		encoded = append(encoded, b)
		index = append(index, i)
	}
	if len(encoded) == 0 {
		return perRow, nil
	}
	ms, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	res, err := ms.AppendRows(ctx, encoded)
	if err != nil {
		return nil, fmt.Errorf("append %d rows to %s: %w", len(encoded), s.name, err)
	}
	resp, err := res.FullResponse(ctx)
	if rowErrs := resp.GetRowErrors(); len(rowErrs) > 0 {
		// The request failed because of these rows; none of it is stored.
		for _, i := range index {
			perRow[i] = warehouse.ErrRowNotAttempted
		}
		for _, re := range rowErrs {
			j := int(re.GetIndex())
			if j < 0 || j >= len(index) {
				return nil, fmt.Errorf("append to %s: error for unknown row %d: %s", s.name, j, re.GetMessage())
			}
			perRow[index[j]] = fmt.Errorf("%w: %s (%s)", warehouse.ErrInvalidData, re.GetMessage(), re.GetCode())
		}
		return perRow, nil
	}
	if err != nil {
		return nil, fmt.Errorf("append %d rows to %s: %w", len(encoded), s.name, err)
	}
	return perRow, nil
}

// close closes the stream, if one was opened.
func (s *streamWriter) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream == nil {
		return nil
	}
	err := s.stream.Close()
	s.stream = nil
	return err
}

// encodeRow encodes row (column name → value, as a ValueSaver returns it)
// as a message of md. Required fields must be set: proto.Marshal checks.
func encodeRow(md protoreflect.MessageDescriptor, row map[string]bigquery.Value) ([]byte, error) {
	m := dynamicpb.NewMessage(md)
	if err := fill(m, row); err != nil {
		return nil, err
	}
	return proto.Marshal(m)
}

func fill(m *dynamicpb.Message, row map[string]bigquery.Value) error {
	fields := m.Descriptor().Fields()
	for name, v := range row {
		if v == nil {
			continue
		}
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil {
			return fmt.Errorf("column %s is not in the table's schema", name)
		}
		if !fd.IsList() && fd.Kind() == protoreflect.MessageKind {
			rec, ok := v.(map[string]bigquery.Value)
			if !ok {
				return fmt.Errorf("column %s: %T is not a record", name, v)
			}
			if err := fill(m.Mutable(fd).Message().Interface().(*dynamicpb.Message), rec); err != nil {
				return fmt.Errorf("column %s: %w", name, err)
			}
			continue
		}
		if !fd.IsList() {
			pv, err := scalar(fd, v)
			if err != nil {
				return err
			}
			m.Set(fd, pv)
			continue
		}
		elems, ok := v.([]bigquery.Value)
		if !ok {
			return fmt.Errorf("column %s: %T is not a list", name, v)
		}
		list := m.Mutable(fd).List()
		for _, e := range elems {
			if fd.Kind() != protoreflect.MessageKind {
				pv, err := scalar(fd, e)
				if err != nil {
					return err
				}
				list.Append(pv)
				continue
			}
			rec, ok := e.(map[string]bigquery.Value)
			if !ok {
				return fmt.Errorf("column %s: %T is not a record", name, e)
			}
			child := list.NewElement()
			if err := fill(child.Message().Interface().(*dynamicpb.Message), rec); err != nil {
				return fmt.Errorf("column %s: %w", name, err)
			}
			list.Append(child)
		}
	}
	return nil
}

// scalar converts v to the proto value of fd, following the Storage Write
// API's type mapping: TIMESTAMP as int64 microseconds since the epoch, DATE
// as int32 days, NUMERIC as the bytes of its billionths.
func scalar(fd protoreflect.FieldDescriptor, v bigquery.Value) (protoreflect.Value, error) {
	switch x := v.(type) {
	case money.Amount:
		if fd.Kind() == protoreflect.BytesKind {
			return protoreflect.ValueOfBytes(x.NumericBytes()), nil
		}
	case string:
		if fd.Kind() == protoreflect.StringKind {
			return protoreflect.ValueOfString(x), nil
		}
	case int:
		return scalar(fd, int64(x))
	case int64:
		switch fd.Kind() {
		case protoreflect.Int64Kind:
			return protoreflect.ValueOfInt64(x), nil
		case protoreflect.Int32Kind:
			return protoreflect.ValueOfInt32(int32(x)), nil
		}
	case time.Time:
		if fd.Kind() == protoreflect.Int64Kind {
			return protoreflect.ValueOfInt64(x.UnixMicro()), nil
		}
	case bool:
		if fd.Kind() == protoreflect.BoolKind {
			return protoreflect.ValueOfBool(x), nil
		}
	case float64:
		if fd.Kind() == protoreflect.DoubleKind {
			return protoreflect.ValueOfFloat64(x), nil
		}
	}
	return protoreflect.Value{}, fmt.Errorf("column %s: cannot write %T as %s", fd.Name(), v, fd.Kind())
}

// writers are the Storage Write API writers of the streamed tables, and
// the client they share.
type writers struct {
	client           *managedwriter.Client
	events, rejected *streamWriter
}

// close closes the streams, then the client.
func (ws *writers) close() error {
	return errors.Join(ws.events.close(), ws.rejected.close(), ws.client.Close())
}

// errNoWriter is returned when a Warehouse made without a write client is
// asked to stream rows.
var errNoWriter = errors.New("no Storage Write API client: open the warehouse with Open, or pass one to New")

func newWriters(client *managedwriter.Client, projectID, dataset string) (*writers, error) {
	events, err := newStreamWriter(client, projectID, dataset, schema.CartEvents)
	if err != nil {
		return nil, err
	}
	rejected, err := newStreamWriter(client, projectID, dataset, schema.CartEventsRejected)
	if err != nil {
		return nil, err
	}
	return &writers{client: client, events: events, rejected: rejected}, nil
}
