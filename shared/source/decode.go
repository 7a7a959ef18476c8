package source

import (
	"encoding/json"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// decodeOptions are Decode's: strings with invalid UTF-8 are taken (the
// bytes replaced by U+FFFD), as encoding/json takes them, since a store's
// legacy data is no reason to quarantine a product; a member named twice
// stays an error, as the record would otherwise be ambiguous.
var decodeOptions = jsontext.AllowInvalidUTF8(true)

// Decode reads one answer, or one record of it, into v in a single pass, with
// the semantics of encoding/json/v2 (github.com/go-json-experiment/json, the
// module it is drawn from): names match exactly, and a field of v tagged
// `json:",unknown"` (a jsontext.Value) collects the members v does not name,
// which is how an adapter keeps a record's unnamed fields as its attributes
// without decoding the record twice. It is what makes an adapter fast enough
// for a store of a million orders; errors name the path of what was wrong.
func Decode(data []byte, v any) error {
	return jsonv2.Unmarshal(data, v, decodeOptions)
}

// Attributes is the members a record's `json:",unknown"` field collected,
// compacted, as its canonical Attributes: nil when there were none.
func Attributes(unknown jsontext.Value) json.RawMessage {
	if len(unknown) == 0 || string(unknown) == "{}" {
		return nil
	}
	if err := unknown.Compact(); err != nil { // in place: the decoder's own copy
		return nil
	}
	return json.RawMessage(unknown)
}
