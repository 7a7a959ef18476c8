package lake

import (
	"bytes"
	"encoding/json"
	"strings"
)

// RejectLine is the quarantined form of an invalid element: the reason and the
// element itself, with any password-like field removed first.
func RejectLine(raw json.RawMessage, reason error) []byte {
	b, err := json.Marshal(struct {
		Reason string          `json:"reason"`
		Record json.RawMessage `json:"record"`
	}{reason.Error(), scrub(raw)})
	if err != nil { // cannot happen: raw came out of a JSON decoder
		b, _ = json.Marshal(map[string]string{"reason": reason.Error()})
	}
	return b
}

// scrub removes every object key that looks like a password, at any depth.
func scrub(raw json.RawMessage) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage(`null`)
	}
	b, err := json.Marshal(scrubValue(v))
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}

func scrubValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if strings.Contains(strings.ToLower(k), "password") {
				delete(x, k)
				continue
			}
			x[k] = scrubValue(val)
		}
	case []any:
		for i := range x {
			x[i] = scrubValue(x[i])
		}
	}
	return v
}
