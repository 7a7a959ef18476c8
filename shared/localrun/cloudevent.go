package localrun

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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("ce-specversion", "1.0")
	req.Header.Set("ce-id", e.ID)
	req.Header.Set("ce-source", e.Source)
	req.Header.Set("ce-type", e.Type)
	if e.Subject != "" {
		req.Header.Set("ce-subject", e.Subject)
	}
	req.Header.Set("ce-time", e.Time.UTC().Format(time.RFC3339Nano))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
