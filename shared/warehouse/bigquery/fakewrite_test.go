package bigquery

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fakeWrite is an in-process fake of the BigQuery Storage Write API's
// BigQueryWrite gRPC service: it serves AppendRows on default streams as
// BigQuery does, decoding every row with the writer schema sent on the
// connection, and can be told to refuse rows, fail transiently or hold a
// table schema that does not match the writer's.
type fakeWrite struct {
	storagepb.UnimplementedBigQueryWriteServer

	mu sync.Mutex
	// rows are the stored rows per table (projects/…/tables/…).
	rows map[string][]*dynamicpb.Message
	// appends counts AppendRows requests received, failed or not.
	appends int
	// unavailable makes the next that many requests end the connection with
	// UNAVAILABLE, before anything is stored.
	unavailable int
	// refuse, when set, names why a row is refused ("" to accept it).
	refuse func(row *dynamicpb.Message) string
	// missing lists columns the fake's tables lack: a writer schema with
	// one of them is refused as BigQuery refuses a schema mismatch.
	missing map[string]bool
}

// GetWriteStream describes a default stream, as the client asks before it
// opens a connection (to find the table's location).
func (f *fakeWrite) GetWriteStream(_ context.Context, req *storagepb.GetWriteStreamRequest) (*storagepb.WriteStream, error) {
	if !strings.HasSuffix(req.GetName(), "/streams/_default") {
		return nil, status.Errorf(codes.NotFound, "stream %s not found", req.GetName())
	}
	return &storagepb.WriteStream{Name: req.GetName(), Type: storagepb.WriteStream_COMMITTED, Location: "US"}, nil
}

func (f *fakeWrite) AppendRows(stream storagepb.BigQueryWrite_AppendRowsServer) error {
	var md protoreflect.MessageDescriptor
	var streamName string
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		// The first request of a connection names the stream and carries the
		// writer schema; later ones may omit both.
		if req.GetWriteStream() != "" {
			streamName = req.GetWriteStream()
		}
		if ws := req.GetProtoRows().GetWriterSchema(); ws != nil {
			if md, err = messageDescriptor(ws.GetProtoDescriptor()); err != nil {
				return status.Errorf(codes.InvalidArgument, "invalid proto schema: %v", err)
			}
		}
		resp, err := f.append(streamName, md, req.GetProtoRows().GetRows().GetSerializedRows())
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// append handles one request's rows: all stored, or none with the reasons.
func (f *fakeWrite) append(streamName string, md protoreflect.MessageDescriptor, rows [][]byte) (*storagepb.AppendRowsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appends++
	if f.unavailable > 0 {
		f.unavailable--
		return nil, status.Error(codes.Unavailable, "the service is currently unavailable")
	}
	if !strings.HasSuffix(streamName, "/streams/_default") || md == nil {
		return nil, status.Errorf(codes.InvalidArgument, "stream %q or writer schema missing", streamName)
	}
	fields := md.Fields()
	for i := range fields.Len() {
		if name := string(fields.Get(i).Name()); f.missing[name] {
			return errorResponse(codes.InvalidArgument, fmt.Sprintf("Input schema has more fields than BigQuery schema, extra fields: '%s'", name), nil), nil
		}
	}
	decoded := make([]*dynamicpb.Message, len(rows))
	var rowErrs []*storagepb.RowError
	for i, b := range rows {
		m := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(b, m); err != nil {
			rowErrs = append(rowErrs, &storagepb.RowError{Index: int64(i), Code: storagepb.RowError_FIELDS_ERROR, Message: err.Error()})
			continue
		}
		if f.refuse != nil {
			if why := f.refuse(m); why != "" {
				rowErrs = append(rowErrs, &storagepb.RowError{Index: int64(i), Code: storagepb.RowError_FIELDS_ERROR, Message: why})
				continue
			}
		}
		decoded[i] = m
	}
	if len(rowErrs) > 0 {
		return errorResponse(codes.InvalidArgument, "Errors found while processing rows.", rowErrs), nil
	}
	table := managedwriter.TableParentFromStreamName(streamName)
	if f.rows == nil {
		f.rows = map[string][]*dynamicpb.Message{}
	}
	f.rows[table] = append(f.rows[table], decoded...)
	return &storagepb.AppendRowsResponse{Response: &storagepb.AppendRowsResponse_AppendResult_{
		AppendResult: &storagepb.AppendRowsResponse_AppendResult{Offset: (*wrapperspb.Int64Value)(nil)},
	}}, nil
}

func errorResponse(code codes.Code, msg string, rowErrs []*storagepb.RowError) *storagepb.AppendRowsResponse {
	return &storagepb.AppendRowsResponse{
		Response:  &storagepb.AppendRowsResponse_Error{Error: status.New(code, msg).Proto()},
		RowErrors: rowErrs,
	}
}

// messageDescriptor builds the message a writer schema describes (a
// normalized, self-contained descriptor).
func messageDescriptor(dp *descriptorpb.DescriptorProto) (protoreflect.MessageDescriptor, error) {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("writer.proto"), Syntax: proto.String("proto2"), MessageType: []*descriptorpb.DescriptorProto{dp},
	}, nil)
	if err != nil {
		return nil, err
	}
	return fd.Messages().Get(0), nil
}

// stored returns the rows stored in table (its short name).
func (f *fakeWrite) stored(table string) []*dynamicpb.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rows["projects/proj/datasets/bq_raw/tables/"+table]
}

// startFakeWrite serves a fakeWrite on a local port and returns it with a
// function making Storage Write API clients connected to it.
func startFakeWrite(t *testing.T) (*fakeWrite, func() (*managedwriter.Client, error)) {
	t.Helper()
	fake := &fakeWrite{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	storagepb.RegisterBigQueryWriteServer(srv, fake)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return fake, func() (*managedwriter.Client, error) {
		return managedwriter.NewClient(context.Background(), "proj",
			option.WithEndpoint(lis.Addr().String()), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
}

// newWriteWarehouse returns a Warehouse whose Storage Write API client talks
// to a fakeWrite on a local port (and whose REST client to a fakeBQ).
func newWriteWarehouse(t *testing.T) (*fakeWrite, *Warehouse) {
	t.Helper()
	fake, dial := startFakeWrite(t)
	write, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	_, client := newFakeBQ(t)
	w, err := New(Config{ProjectID: "proj", Dataset: "bq_raw"}, client, write)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return fake, w
}
