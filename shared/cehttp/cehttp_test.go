package cehttp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func post(t *testing.T, client *http.Client, ctx context.Context, url, id string, structured bool) (int, error) {
	t.Helper()
	var req *http.Request
	if structured {
		body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"test","type":"t","datacontenttype":"application/json","data":{"n":1}}`, id)
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/cloudevents+json")
	} else {
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"n":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("ce-specversion", "1.0")
		req.Header.Set("ce-id", id)
		req.Header.Set("ce-source", "test")
		req.Header.Set("ce-type", "t")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestHandlerDecodesBothModesAndMapsErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler(func(_ context.Context, e cloudevents.Event) error {
		if e.ID() == "fail" {
			return errors.New("transient")
		}
		if string(e.Data()) != `{"n":1}` {
			return fmt.Errorf("data %s", e.Data())
		}
		return nil
	}))
	defer srv.Close()
	for _, structured := range []bool{false, true} {
		if code, err := post(t, srv.Client(), context.Background(), srv.URL, "ok", structured); err != nil || code != http.StatusNoContent {
			t.Errorf("structured=%v: %d %v", structured, code, err)
		}
		if code, _ := post(t, srv.Client(), context.Background(), srv.URL, "fail", structured); code != http.StatusInternalServerError {
			t.Errorf("structured=%v: failing function answered %d", structured, code)
		}
	}
	resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a request with no CloudEvent answered %d", resp.StatusCode)
	}
}

// TestConcurrentDeliveriesWithCancellationsNeverStall sends bursts of
// concurrent events, a tenth of them cancelled by their client mid-flight:
// every request that is not cancelled must be answered promptly, each by the
// goroutine that received it.
func TestConcurrentDeliveriesWithCancellationsNeverStall(t *testing.T) {
	t.Parallel()
	var handled atomic.Int64
	srv := httptest.NewServer(Handler(func(ctx context.Context, e cloudevents.Event) error {
		time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		handled.Add(1)
		return nil
	}))
	defer srv.Close()
	// Cancelling clients get their own transport: a shared one may hand a
	// waiting request the failed dial of a cancelled one.
	patient := &http.Client{Transport: &http.Transport{}}
	impatient := &http.Client{Transport: &http.Transport{}}
	for burst := 0; burst < 5; burst++ {
		var wg sync.WaitGroup
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				timeout, client := 5*time.Second, patient
				cancelled := i%10 == 0
				if cancelled {
					timeout, client = time.Millisecond, impatient
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				code, err := post(t, client, ctx, srv.URL, fmt.Sprint(burst, "-", i), i%2 == 0)
				if !cancelled && (err != nil || code != http.StatusNoContent) {
					t.Errorf("burst %d request %d: %d %v", burst, i, code, err)
				}
			}()
		}
		wg.Wait()
	}
	if handled.Load() < 450 {
		t.Errorf("handled %d events, want at least the 450 not cancelled", handled.Load())
	}
}
