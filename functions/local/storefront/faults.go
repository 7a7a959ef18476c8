package storefront

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is a way a storefront misbehaves. The runner's --source-fault flag
// puts one in front of the built-in API, and the tests use each of them.
type Fault string

// The faults, each seen in real APIs.
const (
	// Fault503Once answers the first request for each collection with 503
	// and Retry-After: 1.
	Fault503Once Fault = "503-once"
	// Fault429Storm answers the first three requests for each collection
	// with 429 and Retry-After: 1.
	Fault429Storm Fault = "429-storm"
	// FaultCutOff sends half of the first response for each collection,
	// then closes the connection.
	FaultCutOff Fault = "cut-off"
	// FaultReset sends half of the first response for each collection,
	// then resets the connection (TCP RST).
	FaultReset Fault = "reset"
	// FaultSlow waits longer than the client's timeout before every answer.
	FaultSlow Fault = "slow"
	// FaultDrip sends every body 4 KiB at a time, 20 ms apart.
	FaultDrip Fault = "drip"
	// FaultByteEvery2s answers the first request for each path at once,
	// then sends its body one byte every 2 seconds: an overloaded shared
	// host, or a broken proxy. Later requests are answered normally.
	FaultByteEvery2s Fault = "byte-every-2s"
	// FaultByteEvery200ms is FaultByteEvery2s at one byte every 200 ms.
	FaultByteEvery200ms Fault = "byte-every-200ms"
	// FaultEmpty answers [] for every collection: an outage that says 200.
	FaultEmpty Fault = "empty"
	// FaultShrink keeps one element in ten of every collection.
	FaultShrink Fault = "shrink"
	// FaultHugeRecord adds one 64 MiB product to /products.
	FaultHugeRecord Fault = "huge-record"
	// FaultHTML answers every request with a 200 HTML error page.
	FaultHTML Fault = "html"
	// FaultObject answers every request with 200 and {}.
	FaultObject Fault = "object"
	// FaultRepeat ends every collection with its first element listed
	// again in another version (a page served twice while it changed).
	FaultRepeat Fault = "repeat"
)

// Faults lists every Fault, for flags and tests.
var Faults = []Fault{Fault503Once, Fault429Storm, FaultCutOff, FaultReset, FaultSlow, FaultDrip,
	FaultByteEvery2s, FaultByteEvery200ms, FaultEmpty, FaultShrink, FaultHugeRecord, FaultHTML, FaultObject, FaultRepeat}

// FaultNames lists the Faults' names, comma-separated, for flags and errors.
func FaultNames() string {
	names := make([]string, len(Faults))
	for i, f := range Faults {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// HugeRecordBytes is the size of FaultHugeRecord's product.
const HugeRecordBytes = 64 << 20

// WithFault returns next misbehaving as f says; slow is how long FaultSlow
// waits before answering.
func WithFault(next http.Handler, f Fault, slow time.Duration) (http.Handler, error) {
	if !slices.Contains(Faults, f) {
		return nil, fmt.Errorf("unknown source fault %q (one of: %s)", f, FaultNames())
	}
	return &faulty{next: next, fault: f, slow: slow, calls: map[string]int{}}, nil
}

type faulty struct {
	next  http.Handler
	fault Fault
	slow  time.Duration
	mu    sync.Mutex
	calls map[string]int // requests seen per collection
}

func (f *faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := f.calls[r.URL.Path]
	f.calls[r.URL.Path]++
	f.mu.Unlock()

	switch f.fault {
	case Fault503Once, Fault429Storm:
		status, times := http.StatusServiceUnavailable, 1
		if f.fault == Fault429Storm {
			status, times = http.StatusTooManyRequests, 3
		}
		if n < times {
			w.Header().Set("Retry-After", "1")
			http.Error(w, http.StatusText(status), status)
			return
		}
	case FaultSlow:
		select {
		case <-time.After(f.slow):
		case <-r.Context().Done():
			return
		}
	case FaultHTML:
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!DOCTYPE html><html><body><h1>We'll be back soon</h1></body></html>"))
		return
	case FaultObject:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
		return
	case FaultCutOff, FaultReset:
		if n == 0 {
			f.breakOff(w, r)
			return
		}
	case FaultByteEvery2s, FaultByteEvery200ms:
		if n == 0 {
			gap := 2 * time.Second
			if f.fault == FaultByteEvery200ms {
				gap = 200 * time.Millisecond
			}
			f.trickle(w, r, gap)
			return
		}
	case FaultDrip, FaultEmpty, FaultShrink, FaultHugeRecord, FaultRepeat:
		f.rewrite(w, r)
		return
	}
	f.next.ServeHTTP(w, r)
}

// breakOff sends the first half of the real answer and breaks the
// connection: closed for FaultCutOff, reset for FaultReset.
func (f *faulty) breakOff(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r)
	CutOff(w, rec, f.fault == FaultReset)
}

// CutOff answers with a recorded response's status line and headers and the
// first half of its body, then breaks the connection: closed, or reset (TCP
// RST) when reset is set. The stand-ins' cut-off faults use it.
func CutOff(w http.ResponseWriter, rec *httptest.ResponseRecorder, reset bool) {
	body := rec.Body.Bytes()
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", rec.Code, http.StatusText(rec.Code), len(body))
	_, _ = buf.Write(body[:len(body)/2])
	_ = buf.Flush()
	if tcp, ok := conn.(*net.TCPConn); ok && reset {
		_ = tcp.SetLinger(0)
	}
}

// trickle sends the real answer's headers at once, then its body one byte
// every gap, until it is sent or the client gives up.
func (f *faulty) trickle(w http.ResponseWriter, r *http.Request, gap time.Duration) {
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r)
	Trickle(w, r, rec, gap)
}

// Trickle answers with a recorded response: its headers at once, then its
// body one byte every gap, until it is sent or the client gives up. The
// stand-ins' slow faults, and tests of a source that drips, use it.
func Trickle(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder, gap time.Duration) {
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for i := range body {
		if _, err := w.Write(body[i : i+1]); err != nil {
			return
		}
		_ = rc.Flush()
		select {
		case <-time.After(gap):
		case <-r.Context().Done():
			return
		}
	}
}

// rewrite serves the real answer changed as the fault says.
func (f *faulty) rewrite(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code != http.StatusOK {
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
		return
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		http.Error(w, "storefront fault: "+err.Error(), http.StatusInternalServerError)
		return
	}
	switch f.fault {
	case FaultEmpty:
		elems = nil
	case FaultShrink:
		var kept []json.RawMessage
		for i := 0; i < len(elems); i += 10 {
			kept = append(kept, elems[i])
		}
		elems = kept
	case FaultHugeRecord:
		if strings.Trim(r.URL.Path, "/") == "products" {
			elems = append(elems[:1], append([]json.RawMessage{hugeProduct()}, elems[1:]...)...)
		}
	case FaultRepeat:
		if len(elems) > 0 {
			elems = append(elems, listedAgain(elems[0]))
		}
	}
	out, _ := json.Marshal(elems)
	if elems == nil {
		out = []byte("[]")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	if f.fault != FaultDrip {
		_, _ = w.Write(out)
		return
	}
	rc := http.NewResponseController(w)
	for len(out) > 0 {
		chunk := out[:min(4<<10, len(out))]
		out = out[len(chunk):]
		if _, err := w.Write(chunk); err != nil {
			return
		}
		_ = rc.Flush()
		time.Sleep(20 * time.Millisecond)
	}
}

// listedAgain returns another version of a product, user or cart under the
// same id: its price, username or first line's quantity changed.
func listedAgain(elem json.RawMessage) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(elem, &m); err != nil {
		return elem
	}
	if price, ok := m["price"].(float64); ok {
		m["price"] = price * 10
	}
	if name, ok := m["username"].(string); ok {
		m["username"] = name + "-again"
	}
	if lines, ok := m["products"].([]any); ok && len(lines) > 0 {
		if line, ok := lines[0].(map[string]any); ok {
			if q, ok := line["quantity"].(float64); ok {
				line["quantity"] = q + 10
			}
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return elem
	}
	return out
}

// hugeProduct is a well-formed product of HugeRecordBytes.
func hugeProduct() json.RawMessage {
	head := `{"id":9999,"title":"huge","price":1,"category":"electronics","image":"https://example.com/x.jpg","description":"`
	tail := `"}`
	return json.RawMessage(head + string(bytes.Repeat([]byte("x"), HugeRecordBytes-len(head)-len(tail))) + tail)
}
