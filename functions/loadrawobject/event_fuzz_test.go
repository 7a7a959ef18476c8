package loadrawobject

import (
	"errors"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// FuzzDecodeEvent: any payload either decodes into a complete Object or is
// rejected with ErrBadEvent; nothing panics.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(objectData(productsObject)))
	f.Add([]byte(`{"bucket":"b","name":"n","generation":7,"md5Hash":"m"}`))
	f.Add([]byte(`{"generation":"-1"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := cloudevents.NewEvent()
		e.SetID("fuzz")
		e.SetSource("fuzz")
		e.SetType(EventType)
		e.DataEncoded = data
		obj, err := DecodeEvent(e)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("error %v does not wrap ErrBadEvent", err)
			}
			return
		}
		if obj.Bucket == "" || obj.Name == "" || obj.Generation <= 0 || obj.MD5 == "" {
			t.Fatalf("incomplete object accepted: %+v", obj)
		}
	})
}
