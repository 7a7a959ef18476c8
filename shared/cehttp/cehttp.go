// Package cehttp serves CloudEvent functions over plain HTTP handlers.
//
// functions-framework-go wraps a function registered with
// functions.CloudEvent in the CloudEvents SDK's NewHTTPReceiveHandler, which
// pairs concurrent requests through one shared unbuffered channel; under
// concurrent deliveries (with a client cancellation now and then) the pairing
// shifts and a request is answered only when the next one arrives, so the
// last of a burst hangs until its client gives up (cloudevents/sdk-go issues
// 1224 and 1332, open at the time of writing). Shoplake's CloudEvent
// function, LoadRawObject, is therefore registered with functions.HTTP and
// decodes each request itself with Handler, which keeps one request in one
// goroutine. (StreamCartEvents is fed by a push subscription, not by
// Eventarc, and reads the push body itself: see package events.)
package cehttp

import (
	"context"
	"fmt"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

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

// decode reads the CloudEvent of a request in either content mode.
func decode(r *http.Request) (*cloudevents.Event, error) {
	e, err := cloudevents.NewEventFromHTTPRequest(r)
	if err != nil {
		return nil, fmt.Errorf("not a CloudEvent: %w", err)
	}
	return e, nil
}
