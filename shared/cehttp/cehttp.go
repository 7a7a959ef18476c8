// Package cehttp serves CloudEvent functions over plain HTTP handlers.
//
// functions-framework-go wraps a function registered with
// functions.CloudEvent in the CloudEvents SDK's NewHTTPReceiveHandler, which
// pairs concurrent requests through one shared unbuffered channel; under
// concurrent deliveries (with a client cancellation now and then) the pairing
// shifts and a request is answered only when the next one arrives, so the
// last of a burst hangs until its client gives up (cloudevents/sdk-go issues
// 1224 and 1332, open at the time of writing). Shoplake's event functions run
// with per-instance concurrency, so they are registered with functions.HTTP
// and decode each request themselves with Handler, which keeps one request in
// one goroutine.
//
// Handler also accepts a plain Pub/Sub push request (no CloudEvent headers),
// which is what a push subscription delivers: StreamCartEvents is fed by one,
// because only a subscription Terraform owns can carry a dead-letter policy.
// The request becomes the messagePublished CloudEvent Eventarc would have
// sent, with the push body as its data.
package cehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// MessagePublishedType is the CloudEvent type of a Pub/Sub message, as
// Eventarc delivers it and as a push request is presented.
const MessagePublishedType = "google.cloud.pubsub.topic.v1.messagePublished"

// maxPushBody bounds a push request: a Pub/Sub message is at most 10 MB,
// base64-encoded in the body.
const maxPushBody = 16 << 20

// Handler adapts a CloudEvent function to an http.Handler. It accepts the
// binary and structured content modes; an undecodable request is a 400, a
// function error a 500 (so Eventarc redelivers), success a 204.
func Handler(fn func(context.Context, cloudevents.Event) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "CloudEvents are delivered with POST", http.StatusMethodNotAllowed)
			return
		}
		e, err := decode(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := fn(r.Context(), *e); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// decode reads the CloudEvent of a request: a CloudEvent in either content
// mode, or a plain Pub/Sub push request.
func decode(r *http.Request) (*cloudevents.Event, error) {
	if r.Header.Get("Ce-Specversion") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents") {
		e, err := cloudevents.NewEventFromHTTPRequest(r)
		if err != nil {
			return nil, fmt.Errorf("not a CloudEvent: %w", err)
		}
		return e, nil
	}
	return decodePush(r.Body)
}

// pushEnvelope is the part of a Pub/Sub push body that names the event.
type pushEnvelope struct {
	Message *struct {
		MessageID   string `json:"messageId"`
		PublishTime string `json:"publishTime"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// decodePush turns a Pub/Sub push body into a messagePublished CloudEvent
// whose data is the body itself.
func decodePush(body io.Reader) (*cloudevents.Event, error) {
	b, err := io.ReadAll(io.LimitReader(body, maxPushBody+1))
	if err != nil {
		return nil, fmt.Errorf("read push request: %w", err)
	}
	if len(b) > maxPushBody {
		return nil, fmt.Errorf("push request larger than %d bytes", maxPushBody)
	}
	var env pushEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("neither a CloudEvent nor a Pub/Sub push request: %w", err)
	}
	if env.Message == nil || env.Message.MessageID == "" {
		return nil, errors.New("neither a CloudEvent nor a Pub/Sub push request: no message.messageId")
	}
	e := cloudevents.NewEvent()
	e.SetID(env.Message.MessageID)
	e.SetType(MessagePublishedType)
	e.SetSource("//pubsub.googleapis.com/" + env.Subscription)
	if t, err := time.Parse(time.RFC3339Nano, env.Message.PublishTime); err == nil {
		e.SetTime(t)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, bytes.TrimSpace(b)); err != nil {
		return nil, fmt.Errorf("push request data: %w", err)
	}
	return &e, nil
}
