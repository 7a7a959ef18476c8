package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/lake/laketest"
)

func messages(from, to int) []*pubsubpb.PubsubMessage {
	var out []*pubsubpb.PubsubMessage
	for i := from; i < to; i++ {
		out = append(out, &pubsubpb.PubsubMessage{Data: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	return out
}

func datas(msgs []queuedMessage) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.msg.GetData()))
	}
	return out
}

// TestDiskQueueKeepsWhatIsNotSettled publishes across several segments,
// settles part, reopens (as the next run does) and reads the rest back.
func TestDiskQueueKeepsWhatIsNotSettled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := openDiskQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	q.maxSeg = 64 // a few records a segment
	for i := 0; i < 10; i++ {
		if _, err := q.publish(messages(i*3, i*3+3), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.pending(); err != nil || n != 30 {
		t.Fatalf("pending = %d, %v; want 30", n, err)
	}
	cur, _ := q.cursor()
	first, err := q.read(cur, 12, 1<<20)
	if err != nil || len(first) != 12 || string(first[11].msg.GetData()) != `{"n":11}` {
		t.Fatalf("read %v, %v", datas(first), err)
	}
	if err := q.settle(first[len(first)-1].next); err != nil {
		t.Fatal(err)
	}
	q.close()

	q, err = openDiskQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	if n, err := q.pending(); err != nil || n != 18 {
		t.Fatalf("after reopening, pending = %d, %v; want 18", n, err)
	}
	cur, _ = q.cursor()
	rest, err := q.read(cur, 100, 1<<20)
	if err != nil || len(rest) != 18 || string(rest[0].msg.GetData()) != `{"n":12}` || string(rest[17].msg.GetData()) != `{"n":29}` {
		t.Fatalf("read after reopening: %v, %v", datas(rest), err)
	}
	seen := map[string]bool{}
	for _, m := range append(first, rest...) {
		if seen[m.msg.GetMessageId()] {
			t.Fatalf("message id %s given twice", m.msg.GetMessageId())
		}
		seen[m.msg.GetMessageId()] = true
	}
}

// TestDiskQueueDropsARecordCutShort: a crash in the middle of an append
// leaves a partial record, whose publish was never answered; reopening
// drops it and appends after the last whole record.
func TestDiskQueueDropsARecordCutShort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := openDiskQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.publish(messages(0, 2), time.Now()); err != nil {
		t.Fatal(err)
	}
	q.close()
	f, err := os.OpenFile(q.segPath(1), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{40, 1, 2, 3}) // a length of 40, then only 3 bytes
	f.Close()

	q, err = openDiskQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	if _, err := q.publish(messages(2, 3), time.Now()); err != nil {
		t.Fatal(err)
	}
	cur, _ := q.cursor()
	got, err := q.read(cur, 10, 1<<20)
	if err != nil || len(got) != 3 || string(got[2].msg.GetData()) != `{"n":2}` {
		t.Fatalf("read %v, %v; want the two whole records and the new one", datas(got), err)
	}
}

// TestFollowDeliversEveryMessageOnceWhilePublishing: the pusher follows a
// queue that a publisher appends to at the same time, across many segment
// rotations; once the publisher is done, every message has been delivered
// exactly once, in order, and the queue is settled.
func TestFollowDeliversEveryMessageOnceWhilePublishing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := openDiskQueue(filepath.Join(dir, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	q.maxSeg = 256 // a rotation every few appends
	dl, err := openDiskQueue(filepath.Join(dir, "dead-letter"))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.close()

	var mu sync.Mutex
	got := map[string]int{}
	var order []int
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var push events.PushRequest
		if err := json.NewDecoder(r.Body).Decode(&push); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var body struct{ N int }
		_ = json.Unmarshal(push.Message.Data, &body)
		mu.Lock()
		got[string(push.Message.Data)]++
		order = append(order, body.N)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer fn.Close()
	gcs := laketest.New(t, Bucket, nil)
	p := newQueuePusher(q, dl, gcs.Bucket(Bucket), fn.URL, io.Discard)
	p.parallel = 1 // in order, to check that no record is skipped

	const total = 600
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i += 3 {
			if _, err := q.publish(messages(i, i+3), time.Now()); err != nil {
				t.Error(err)
				return
			}
			if i%30 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	stats, err := p.follow(context.Background(), done)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Acked != total || stats.Events != total || len(got) != total {
		t.Fatalf("%+v, %d distinct messages; want %d acknowledged", stats, len(got), total)
	}
	for data, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", data, n)
		}
	}
	for i, n := range order {
		if n != i {
			t.Fatalf("delivery %d was message %d: a record was skipped or repeated", i, n)
		}
	}
	if n, err := q.pending(); err != nil || n != 0 {
		t.Errorf("pending after follow = %d, %v; want 0", n, err)
	}
}

func TestHasPending(t *testing.T) {
	t.Parallel()
	q, err := openDiskQueue(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	if ok, err := q.hasPending(); err != nil || ok {
		t.Fatalf("empty queue: hasPending = %v, %v", ok, err)
	}
	if _, err := q.publish(messages(0, 2), time.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, err := q.hasPending(); err != nil || !ok {
		t.Fatalf("after a publish: hasPending = %v, %v", ok, err)
	}
	cur, _ := q.cursor()
	msgs, _ := q.read(cur, 10, 1<<20)
	if err := q.settle(msgs[len(msgs)-1].next); err != nil {
		t.Fatal(err)
	}
	if ok, err := q.hasPending(); err != nil || ok {
		t.Fatalf("after settling all: hasPending = %v, %v", ok, err)
	}
}
