// Package respond reads HTTP function requests and writes their responses,
// and serves the scheduled functions' calls the same way.
package respond

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// JSON writes v as a JSON response with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// MaxRequest caps a request body; a real request is a few dozen bytes.
const MaxRequest = 64 << 10

// DecodeRequest reads an optional JSON body into v, rejecting unknown fields,
// trailing data and bodies over MaxRequest; an empty body leaves v as it is.
// example shows a valid body in the error.
func DecodeRequest(body io.Reader, v any, example string) error {
	b, err := io.ReadAll(io.LimitReader(body, MaxRequest+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(b) > MaxRequest {
		return fmt.Errorf("body exceeds %d bytes", MaxRequest)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body must be JSON like %s: %w", example, err)
	}
	if dec.More() {
		return errors.New("body has data after the JSON object")
	}
	return nil
}
