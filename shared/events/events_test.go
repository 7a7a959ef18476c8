package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/shoplake/shoplake/internal/pubsubtest"
	"github.com/shoplake/shoplake/shared/model"
)

func TestDecodePush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, wantErr string
	}{
		{"push", `{"message":{"data":"e30=","messageId":"m-1","publishTime":"2026-11-23T06:00:00.5Z"},"subscription":"projects/p/subscriptions/s"}`, ""},
		{"no message", `{"subscription":"projects/p/subscriptions/s"}`, "no message id"},
		{"no message id", `{"message":{"data":"e30="}}`, "no message id"},
		{"not json", `message`, "not a Pub/Sub push envelope"},
		{"data not base64", `{"message":{"data":"!!","messageId":"m"}}`, "not a Pub/Sub push envelope"},
		{"too large", `{"message":{"data":"` + strings.Repeat("A", MaxPushBody) + `"}}`, "over the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := DecodePush([]byte(tt.body))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrPoison) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrPoison containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Message.MessageID != "m-1" || string(p.Message.Data) != "{}" || p.Subscription != "projects/p/subscriptions/s" ||
				!p.Message.PublishTime.Equal(time.Date(2026, 11, 23, 6, 0, 0, 5e8, time.UTC)) {
				t.Errorf("decoded %+v", p)
			}
		})
	}
}

// FuzzDecodePush feeds arbitrary bodies to the push decoder: it must never
// panic, and what it accepts has a message id and encodes back to an
// envelope that decodes to the same message.
func FuzzDecodePush(f *testing.F) {
	f.Add([]byte(`{"message":{"data":"e30=","messageId":"m-1","publishTime":"2026-11-23T06:00:00Z"},"subscription":"s"}`))
	f.Add([]byte(`{"message":{"messageId":""}}`))
	f.Add([]byte(`{"message":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodePush(body)
		if err != nil {
			if !errors.Is(err, ErrPoison) {
				t.Fatalf("error %v is not ErrPoison", err)
			}
			return
		}
		if p.Message.MessageID == "" {
			t.Fatalf("accepted %q without a message id", body)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := DecodePush(b)
		if err != nil || q.Message.MessageID != p.Message.MessageID || !bytes.Equal(q.Message.Data, p.Message.Data) {
			t.Fatalf("re-encoded envelope decodes to %+v, %v", q, err)
		}
	})
}

func testEvent(cartID int64) model.CartEvent { return bigEvent(cartID, 1) }

// bigEvent is the event of a cart with lines product lines.
func bigEvent(cartID int64, lines int) model.CartEvent {
	at := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	c := &model.Cart{ID: cartID, UserID: 1, Date: "2020-03-02T00:00:00.000Z"}
	for i := range lines {
		c.Products = append(c.Products, model.CartLine{ProductID: int64(i + 1), Quantity: 2})
	}
	fp, _ := model.CartFingerprint(c, nil)
	return model.NewUpsertEvent(c, fp, at, at)
}

// pushMessage is what the push subscription delivers for m.
func pushMessage(m *pubsub.Message) PushMessage {
	return PushMessage{Data: m.Data, Attributes: m.Attributes, MessageID: "m-1"}
}

func TestBatchClosesAtItsBounds(t *testing.T) {
	t.Parallel()
	size := func(ev model.CartEvent) int { b, _ := json.Marshal(ev); return len(b) }
	tests := []struct {
		name string
		ev   model.CartEvent
		want int // events in a full batch
	}{
		{"count bound (small events)", testEvent(1), MaxBatchEvents},
		// Full lines and a newline between each, up to MaxBatchBytes.
		{"byte bound (carts of 100 lines)", bigEvent(1, 100), (MaxBatchBytes + 1) / (size(bigEvent(1, 100)) + 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b Batch
			for {
				ok, err := b.Add(tt.ev)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
			}
			if b.Len() != tt.want {
				t.Fatalf("batch closed after %d events, want %d", b.Len(), tt.want)
			}
			n := b.Len()
			m := b.Message()
			if len(m.Data) > MaxBatchBytes || m.Attributes[AttrEventCount] != strconv.Itoa(n) || bytes.HasSuffix(m.Data, []byte("\n")) {
				t.Errorf("message of %d bytes, attributes %v, ends with a newline: %v", len(m.Data), m.Attributes, bytes.HasSuffix(m.Data, []byte("\n")))
			}
			lines, err := DecodeMessage(pushMessage(m))
			if err != nil || len(lines) != n {
				t.Fatalf("decoded %d lines, %v", len(lines), err)
			}
			if b.Len() != 0 {
				t.Errorf("Message left %d events in the batch", b.Len())
			}
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	t.Parallel()
	one, _ := NewMessage(testEvent(1))
	two, _ := NewBatchMessage(testEvent(1), testEvent(2))
	attrs := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name     string
		data     []byte
		attrs    map[string]string
		wantErr  string   // a message-level error
		wantLine []string // per line: "" when valid, else part of its error
	}{
		{"one-event shape", one.Data, one.Attributes, "", []string{""}},
		{"batch", two.Data, two.Attributes, "", []string{"", ""}},
		{"batch with a trailing newline", append(append([]byte{}, two.Data...), '\n'), two.Attributes, "", []string{"", ""}},
		{"one bad line", bytes.Replace(two.Data, []byte(`"cart_id":2`), []byte(`"cart_id":-2`), 1), two.Attributes, "", []string{"", "line 2: poison message: invalid record: cart_id fails gt=0"}},
		{"empty line", append(append([]byte{}, two.Data...), "\n\n"...), attrs("schema_version", "1", "event_count", "3"), "", []string{"", "", "line 3: poison message: body is not a cart event"}},
		{"cut short", two.Data[:len(two.Data)/2], two.Attributes, "event_count says 2 events but the data holds 1 lines", nil},
		{"count zero", two.Data, attrs("schema_version", "1", "event_count", "0"), "not a number from 1 to 1000", nil},
		{"no schema version", two.Data, attrs("event_count", "2"), `unknown schema_version ""`, nil},
		{"single with mismatched id", one.Data, attrs("schema_version", "1", "event_id", "x", "event_type", "cart.upserted"), "", []string{`event_id attribute "x" does not match`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines, err := DecodeMessage(PushMessage{Data: tt.data, Attributes: tt.attrs, MessageID: "m"})
			if tt.wantErr != "" {
				if !errors.Is(err, ErrPoison) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrPoison containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(lines) != len(tt.wantLine) {
				t.Fatalf("%d lines, %v; want %d lines", len(lines), err, len(tt.wantLine))
			}
			for i, l := range lines {
				switch want := tt.wantLine[i]; {
				case l.Index != i+1:
					t.Errorf("line %d has index %d", i+1, l.Index)
				case want == "" && l.Err != nil:
					t.Errorf("line %d: %v", i+1, l.Err)
				case want != "" && (!errors.Is(l.Err, ErrPoison) || !strings.Contains(l.Err.Error(), want)):
					t.Errorf("line %d: err %v, want ErrPoison containing %q", i+1, l.Err, want)
				case want == "" && l.Event.CartID != int64(i+1):
					t.Errorf("line %d holds cart %d", i+1, l.Event.CartID)
				}
			}
		})
	}
}

// FuzzDecodeMessage feeds arbitrary data and counts to the message decoder:
// it never panics; what it accepts has exactly the announced lines, each
// valid with an event id or refused with ErrPoison.
func FuzzDecodeMessage(f *testing.F) {
	two, _ := NewBatchMessage(testEvent(1), testEvent(2))
	f.Add(two.Data, "2")
	f.Add(two.Data, "1")
	f.Add([]byte("{}\n{}"), "2")
	f.Add([]byte{0xff, '\n'}, "x")
	f.Fuzz(func(t *testing.T, data []byte, count string) {
		lines, err := DecodeMessage(PushMessage{Data: data, Attributes: map[string]string{AttrSchemaVersion: "1", AttrEventCount: count}, MessageID: "m"})
		if err != nil {
			if !errors.Is(err, ErrPoison) {
				t.Fatalf("error %v is not ErrPoison", err)
			}
			return
		}
		if n, _ := strconv.Atoi(count); len(lines) != n {
			t.Fatalf("event_count %q but %d lines", count, len(lines))
		}
		for _, l := range lines {
			if l.Err == nil && l.Event.EventID == "" {
				t.Fatalf("line %d accepted without an event id", l.Index)
			}
			if l.Err != nil && !errors.Is(l.Err, ErrPoison) {
				t.Fatalf("line %d: error %v is not ErrPoison", l.Index, l.Err)
			}
		}
	})
}

func TestPublisherPacksEventsIntoBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, client := pubsubtest.New(t, "p")
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/t"}); err != nil {
		t.Fatal(err)
	}
	pub := NewPublisher(client, "t")
	const n = 2*MaxBatchEvents + 500
	results := make([]Result, n)
	for i := range results {
		results[i] = pub.Publish(ctx, testEvent(int64(i+1)))
	}
	// The last 500 wait in the open batch until Flush.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := results[n-1].Get(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an event of the open batch resolved before Flush: %v", err)
	}
	cancel()
	pub.Flush(ctx)
	ids := map[string]int{}
	for i, r := range results {
		id, err := r.Get(ctx)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		ids[id]++
	}
	pub.Stop()
	msgs := srv.Messages()
	if len(msgs) != 3 || len(ids) != 3 {
		t.Fatalf("%d messages, %d distinct ids; want 3", len(msgs), len(ids))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		lines, err := DecodeMessage(PushMessage{Data: m.Data, Attributes: m.Attributes, MessageID: m.ID})
		if err != nil || len(lines) != ids[m.ID] {
			t.Fatalf("message %s: %d lines (results said %d), %v", m.ID, len(lines), ids[m.ID], err)
		}
		for _, l := range lines {
			if l.Err != nil || seen[l.Event.EventID] {
				t.Fatalf("line %d of %s: %v, seen before %v", l.Index, m.ID, l.Err, seen[l.Event.EventID])
			}
			seen[l.Event.EventID] = true
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct events arrived, want %d", len(seen), n)
	}
}
