package emulation

import (
	"bytes"
	"context"
	"net/http"
	"time"
)

// cloudEvent is the envelope of an event delivered in binary content mode.
type cloudEvent struct {
	ID, Source, Type, Subject string
	Time                      time.Time
}

// postCloudEvent delivers data (JSON) to a CloudEvent function in binary
// content mode, as Eventarc does, and returns the HTTP status.
func postCloudEvent(ctx context.Context, client *http.Client, url string, e cloudEvent, data []byte) (int, error) {
	h := http.Header{}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-id", e.ID)
	h.Set("ce-source", e.Source)
	h.Set("ce-type", e.Type)
	if e.Subject != "" {
		h.Set("ce-subject", e.Subject)
	}
	h.Set("ce-time", e.Time.UTC().Format(time.RFC3339Nano))
	return postJSON(ctx, client, url, h, data)
}

// postJSON POSTs a JSON body with extra headers and returns the HTTP status.
func postJSON(ctx context.Context, client *http.Client, url string, h http.Header, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
