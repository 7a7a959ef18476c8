package emulation

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// TestRedeliver: what the Pub/Sub pushers add to the one redelivery
// routine (Policy.Deliver, tested there, cancellation included):
// counts, and the dead letter with its delivery attempts.
func TestRedeliver(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		failures        int32 // answers of 500 before a 204
		wantErr         error
		wantDelivered   int64
		wantNacked      int64
		wantDeadLetters int
	}{
		{name: "delivered at once", failures: 0, wantDelivered: 1},
		{name: "delivered on the third", failures: 2, wantDelivered: 3, wantNacked: 2},
		{name: "dead-lettered after five", failures: 100, wantDelivered: 5, wantNacked: 4, wantDeadLetters: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= tc.failures {
					w.WriteHeader(http.StatusInternalServerError)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(srv.Close)
			var c pushCounter
			var dead []*pubsubpb.PubsubMessage
			m := &pubsubpb.PubsubMessage{MessageId: "m1", Data: []byte(`{}`)}
			err := redeliver(context.Background(), Policy{Attempts: 5, Backoff: time.Millisecond}, srv.Client(), srv.URL, m, &c,
				func(dl *pubsubpb.PubsubMessage) error { dead = append(dead, dl); return nil })
			s := c.snapshot()
			if err != nil || s.Delivered != tc.wantDelivered || s.Nacked != tc.wantNacked || len(dead) != tc.wantDeadLetters {
				t.Errorf("error %v, stats %+v, %d dead-lettered", err, s, len(dead))
			}
			if len(dead) == 1 && dead[0].GetAttributes()["delivery_attempts"] != "5" {
				t.Errorf("dead letter attributes %v", dead[0].GetAttributes())
			}
		})
	}
}
