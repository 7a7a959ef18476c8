package shopifyapi

import (
	"bufio"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// BulkEnd is how the stand-in's bulk operations end.
type BulkEnd string

// The ends a bulk operation can come to, as BulkOperationStatus names them.
const (
	BulkCompleted BulkEnd = "COMPLETED"
	BulkFailed    BulkEnd = "FAILED"
	BulkCanceled  BulkEnd = "CANCELED"
	BulkExpired   BulkEnd = "EXPIRED"
)

// BulkConfig says how the stand-in runs bulk operations.
type BulkConfig struct {
	// Polls is how many status queries answer RUNNING before the end.
	Polls int
	// End is how each operation ends (default COMPLETED).
	End BulkEnd
	// ChildrenLast writes every product line before any variant line, as
	// Shopify may: children are not promised to follow their parent.
	ChildrenLast bool
}

// bulkState is the stand-in's bulk operations.
type bulkState struct {
	mu    sync.Mutex
	cfg   BulkConfig
	ops   []*bulkOp
	bytes int64 // result bytes served
}

type bulkOp struct {
	id    string
	polls int
}

// SetBulk sets how the stand-in runs bulk operations.
func (s *Server) SetBulk(cfg BulkConfig) {
	s.bulk.mu.Lock()
	defer s.bulk.mu.Unlock()
	s.bulk.cfg = cfg
}

// serveBulk answers the bulk operation flow: the mutation that starts one
// (of the products connection: the one the adapter exports), and the status
// query that reports it and, once COMPLETED, the URL of its JSONL result.
func (s *Server) serveBulk(w http.ResponseWriter, r *http.Request, req request) bool {
	b := &s.bulk
	switch req.OperationName {
	case "BulkOperationRunQuery":
		q, _ := req.Variables["query"].(string)
		if !strings.Contains(q, "products") {
			writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"bulkOperationRunQuery": map[string]any{
				"bulkOperation": nil, "userErrors": []any{map[string]any{"field": []string{"query"}, "message": "the stand-in exports products only"}}}}})
			return true
		}
		b.mu.Lock()
		op := &bulkOp{id: fmt.Sprintf("gid://shopify/BulkOperation/%d", len(b.ops)+1)}
		b.ops = append(b.ops, op)
		b.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"bulkOperationRunQuery": map[string]any{
			"bulkOperation": map[string]any{"id": op.id, "status": "CREATED"}, "userErrors": []any{}}}})
		return true
	case "BulkOperationStatus":
		id, _ := req.Variables["id"].(string)
		b.mu.Lock()
		i := slices.IndexFunc(b.ops, func(o *bulkOp) bool { return o.id == id })
		var node map[string]any
		if i >= 0 {
			op := b.ops[i]
			op.polls++
			node = map[string]any{"id": op.id, "status": "RUNNING", "errorCode": nil, "objectCount": "0", "url": nil}
			if op.polls > b.cfg.Polls {
				end := cmpOr(b.cfg.End, BulkCompleted)
				node["status"] = string(end)
				switch end {
				case BulkCompleted:
					node["url"] = "http://" + r.Host + "/bulk-results/" + strings.TrimPrefix(op.id, "gid://shopify/BulkOperation/") + ".jsonl?signature=s3cr3t"
				case BulkFailed:
					node["errorCode"] = "INTERNAL_SERVER_ERROR"
				}
			}
		}
		b.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"node": node}})
		return true
	}
	return false
}

func cmpOr(e, def BulkEnd) BulkEnd {
	if e == "" {
		return def
	}
	return e
}

// serveBulkResult streams a completed operation's JSONL: each product as a
// line of its own (its variants left out, their count kept), and each
// variant as a line with __parentId, right after its product or, with
// ChildrenLast, after every product.
func (s *Server) serveBulkResult(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("signature") != "s3cr3t" || r.Header.Get("X-Shopify-Access-Token") != "" {
		http.Error(w, "AccessDenied: the signed link was altered, or a store token was sent to the storage host", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	t := s.data["products"]
	s.mu.Unlock()
	if t == nil {
		t = nodeSlice(nil)
	}
	s.bulk.mu.Lock()
	childrenLast := s.bulk.cfg.ChildrenLast
	s.bulk.mu.Unlock()

	w.Header().Set("Content-Type", "application/jsonl")
	bw := bufio.NewWriterSize(w, 64<<10)
	var later [][]byte
	var written int64
	for i := range t.Len() {
		n := t.At(i)
		// encoding/json/v2 (sorting the keys, as encoding/json does): it is
		// what lets the stand-in keep up with the adapter it serves.
		var p map[string]jsontext.Value
		if jsonv2.Unmarshal(n.JSON, &p) != nil {
			continue
		}
		var variants struct {
			Nodes []map[string]jsontext.Value `json:"nodes"`
		}
		_ = jsonv2.Unmarshal(p["variants"], &variants)
		delete(p, "variants")
		p["variantsCount"] = jsontext.Value(`{"count":` + strconv.Itoa(len(variants.Nodes)) + `}`)
		line, _ := jsonv2.Marshal(p, jsonv2.Deterministic(true))
		nw, _ := bw.Write(append(line, '\n'))
		written += int64(nw)
		s.served.Add(1)
		for _, v := range variants.Nodes {
			v["__parentId"], _ = jsonv2.Marshal(n.ID)
			vl, _ := jsonv2.Marshal(v, jsonv2.Deterministic(true))
			if childrenLast {
				later = append(later, vl)
				continue
			}
			nw, _ := bw.Write(append(vl, '\n'))
			written += int64(nw)
		}
	}
	for _, vl := range later {
		nw, _ := bw.Write(append(vl, '\n'))
		written += int64(nw)
	}
	_ = bw.Flush()
	s.bulk.mu.Lock()
	s.bulk.bytes += written
	s.bulk.mu.Unlock()
}
