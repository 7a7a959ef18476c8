package emulation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/queue"
	"github.com/shoplake/shoplake/shared/events"
	"github.com/shoplake/shoplake/shared/lake/laketest"
)

// testMessages are messages {"n":from} to {"n":to-1}.
func testMessages(from, to int) []*pubsubpb.PubsubMessage {
	var out []*pubsubpb.PubsubMessage
	for i := from; i < to; i++ {
		out = append(out, &pubsubpb.PubsubMessage{Data: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	return out
}

// TestFollowDeliversEveryMessageOnceWhilePublishing: the pusher follows a
// queue that a publisher appends to at the same time, across many segment
// rotations; once the publisher is done, every message has been delivered
// exactly once, in order, and the queue is settled.
func TestFollowDeliversEveryMessageOnceWhilePublishing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := queue.Open(filepath.Join(dir, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.MaxSegmentBytes = 256 // a rotation every few appends
	dl, err := queue.Open(filepath.Join(dir, "dead-letter"))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()

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
	gcs := laketest.New(t, names.Bucket, nil)
	p := newQueuePusher(q, dl, gcs.Bucket(names.Bucket), fn.URL, io.Discard)
	p.parallel = 1 // in order, to check that no record is skipped

	const total = 600
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i += 3 {
			if _, err := q.Publish(testMessages(i, i+3), time.Now()); err != nil {
				t.Error(err)
				return
			}
			if i%30 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	stats, err := p.Follow(context.Background(), done)
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
	if n, err := q.Pending(); err != nil || n != 0 {
		t.Errorf("pending after follow = %d, %v; want 0", n, err)
	}
}
