package emulation

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/internal/pubsubtest"
)

// newTestPubSub starts pstest with the runner's topics and subscriptions,
// without touching the process environment.
func newTestPubSub(t *testing.T) *PubSub {
	t.Helper()
	_, client := pubsubtest.New(t, names.ProjectID)
	ctx := context.Background()
	for _, tp := range []string{names.Topic, names.DeadLetterTopic} {
		if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName(tp)}); err != nil {
			t.Fatal(err)
		}
	}
	for sub, tp := range map[string]string{names.Subscription: names.Topic, names.DeadLetterSubscription: names.DeadLetterTopic} {
		if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: subscriptionName(sub), Topic: topicName(tp), AckDeadlineSeconds: 60}); err != nil {
			t.Fatal(err)
		}
	}
	return &PubSub{client: client}
}

func publish(t *testing.T, ps *PubSub, ids ...string) {
	t.Helper()
	pub := ps.client.Publisher(names.Topic)
	defer pub.Stop()
	for _, id := range ids {
		if _, err := pub.Publish(context.Background(), &pubsub.Message{Data: []byte(id), Attributes: map[string]string{"event_id": id}}).Get(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// target answers with the statuses scripted per message body, then 204.
type target struct {
	mu     sync.Mutex
	script map[string][]int
	calls  map[string]int
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var env struct {
		Message struct{ Data []byte } `json:"message"`
	}
	_ = json.NewDecoder(r.Body).Decode(&env)
	id := string(env.Message.Data)
	tg.mu.Lock()
	n := tg.calls[id]
	tg.calls[id]++
	code := http.StatusNoContent
	if s := tg.script[id]; n < len(s) {
		code = s[n]
	}
	tg.mu.Unlock()
	w.WriteHeader(code)
}

func TestPusherRedeliversThenDeadLetters(t *testing.T) {
	t.Parallel()
	ps := newTestPubSub(t)
	tg := &target{
		script: map[string][]int{"flaky": {500, 503}, "poison": {500, 500, 500, 500, 500, 500}},
		calls:  map[string]int{},
	}
	srv := httptest.NewServer(tg)
	defer srv.Close()
	publish(t, ps, "ok", "flaky", "poison")

	p := newPusher(ps, srv.URL)
	p.policy.Backoff = time.Millisecond
	stats, err := p.drainIdle(context.Background(), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if tg.calls["ok"] != 1 || tg.calls["flaky"] != 3 || tg.calls["poison"] != 5 {
		t.Errorf("deliveries = %v, want ok 1, flaky 3, poison 5 (then dead-lettered)", tg.calls)
	}
	if stats.Acked != 2 || stats.DeadLettered != 1 || stats.Nacked != 6 || stats.Delivered != 9 {
		t.Errorf("stats = %+v", stats)
	}
	// The poison message is on the dead-letter topic, with its attributes.
	resp, err := ps.client.SubscriptionAdminClient.Pull(context.Background(), &pubsubpb.PullRequest{
		Subscription: subscriptionName(names.DeadLetterSubscription), MaxMessages: 10, ReturnImmediately: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := resp.GetReceivedMessages()
	if len(msgs) != 1 || string(msgs[0].GetMessage().GetData()) != "poison" ||
		msgs[0].GetMessage().GetAttributes()["event_id"] != "poison" || msgs[0].GetMessage().GetAttributes()["delivery_attempts"] != "5" {
		t.Errorf("dead-letter topic holds %v", msgs)
	}
	// Nothing is left to deliver.
	if stats, err := p.drainIdle(context.Background(), 200*time.Millisecond); err != nil || stats.Delivered != 9 {
		t.Errorf("second drain: %+v, %v", stats, err)
	}
}
