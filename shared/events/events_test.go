package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
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
