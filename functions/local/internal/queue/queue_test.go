package queue

import (
	"fmt"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

func messages(from, to int) []*pubsubpb.PubsubMessage {
	var out []*pubsubpb.PubsubMessage
	for i := from; i < to; i++ {
		out = append(out, &pubsubpb.PubsubMessage{Data: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	return out
}

func datas(msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Msg.GetData()))
	}
	return out
}

// TestDiskQueueKeepsWhatIsNotSettled publishes across several segments,
// settles part, reopens (as the next run does) and reads the rest back.
func TestDiskQueueKeepsWhatIsNotSettled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	q.MaxSegmentBytes = 64 // a few records a segment
	for i := 0; i < 10; i++ {
		if _, err := q.Publish(messages(i*3, i*3+3), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.Pending(); err != nil || n != 30 {
		t.Fatalf("pending = %d, %v; want 30", n, err)
	}
	cur, _ := q.Cursor()
	first, err := q.Read(cur, 12, 1<<20)
	if err != nil || len(first) != 12 || string(first[11].Msg.GetData()) != `{"n":11}` {
		t.Fatalf("read %v, %v", datas(first), err)
	}
	if err := q.Settle(first[len(first)-1].Next); err != nil {
		t.Fatal(err)
	}
	q.Close()

	q, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n, err := q.Pending(); err != nil || n != 18 {
		t.Fatalf("after reopening, pending = %d, %v; want 18", n, err)
	}
	cur, _ = q.Cursor()
	rest, err := q.Read(cur, 100, 1<<20)
	if err != nil || len(rest) != 18 || string(rest[0].Msg.GetData()) != `{"n":12}` || string(rest[17].Msg.GetData()) != `{"n":29}` {
		t.Fatalf("read after reopening: %v, %v", datas(rest), err)
	}
	seen := map[string]bool{}
	for _, m := range append(first, rest...) {
		if seen[m.Msg.GetMessageId()] {
			t.Fatalf("message id %s given twice", m.Msg.GetMessageId())
		}
		seen[m.Msg.GetMessageId()] = true
	}
}

// TestDiskQueueDropsARecordCutShort: a crash in the middle of an append
// leaves a partial record, whose publish was never answered; reopening
// drops it and appends after the last whole record.
func TestDiskQueueDropsARecordCutShort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Publish(messages(0, 2), time.Now()); err != nil {
		t.Fatal(err)
	}
	q.Close()
	f, err := os.OpenFile(q.segPath(1), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{40, 1, 2, 3}) // a length of 40, then only 3 bytes
	f.Close()

	q, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Publish(messages(2, 3), time.Now()); err != nil {
		t.Fatal(err)
	}
	cur, _ := q.Cursor()
	got, err := q.Read(cur, 10, 1<<20)
	if err != nil || len(got) != 3 || string(got[2].Msg.GetData()) != `{"n":2}` {
		t.Fatalf("read %v, %v; want the two whole records and the new one", datas(got), err)
	}
}

func TestHasPending(t *testing.T) {
	t.Parallel()
	q, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if ok, err := q.HasPending(); err != nil || ok {
		t.Fatalf("empty queue: hasPending = %v, %v", ok, err)
	}
	if _, err := q.Publish(messages(0, 2), time.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, err := q.HasPending(); err != nil || !ok {
		t.Fatalf("after a publish: hasPending = %v, %v", ok, err)
	}
	cur, _ := q.Cursor()
	msgs, _ := q.Read(cur, 10, 1<<20)
	if err := q.Settle(msgs[len(msgs)-1].Next); err != nil {
		t.Fatal(err)
	}
	if ok, err := q.HasPending(); err != nil || ok {
		t.Fatalf("after settling all: hasPending = %v, %v", ok, err)
	}
}
