// Package shopifyapi is a stand-in for the Shopify GraphQL Admin API, written
// from its public documentation, for local runs and tests: one endpoint,
// /admin/api/<version>/graphql.json, authenticated by X-Shopify-Access-Token,
// answering the connection queries Shoplake's adapter sends (products,
// customers, orders, abandonedCheckouts) a cursor page at a time
// (first/after, pageInfo { hasNextPage endCursor }, at most 250 a page),
// filtered by "updated_at:>'<time>'" and sorted by UPDATED_AT, and charging
// each query against a leaky bucket that really throttles: the requested
// cost is taken up front, the difference to the actual cost refunded, and a
// query the bucket cannot pay for is answered THROTTLED, with the bucket's
// state in extensions.cost as Shopify does. It runs bulk exports of the
// products (bulkOperationRunQuery, a status to poll, a JSONL result behind a
// signed link on the same server), keeps the deletionEvents feed of deleted
// products, and answers the id-only listings of orders and customers a
// reconcile reads.
//
// It does not parse GraphQL: it recognises the adapter's operations by
// operationName and reads their variables, and answers any other operation
// with a GraphQL error.
package shopifyapi

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoplake/shoplake/functions/local/storefront"
)

// Node is one record of a connection: its GraphQL id, when it was last
// updated, and its JSON (the node as the adapter's query selects it).
type Node struct {
	ID        string
	UpdatedAt time.Time
	JSON      json.RawMessage
}

// Connections maps a connection field (products, customers, orders,
// abandonedCheckouts) to its nodes.
type Connections map[string][]Node

// Bucket is the leaky bucket of query cost: Shopify's Standard plan has a
// bucket of 1,000 points restoring 50 a second (the defaults).
type Bucket struct {
	Max, RestoreRate float64
}

// Config configures a Server.
type Config struct {
	// Versions are the API versions served (default 2025-07).
	Versions []string
	// Token is the access token the server accepts.
	Token string
	// Bucket is the cost bucket (default 1,000 points, 50 a second).
	Bucket Bucket
	// Now is the server's clock (default time.Now).
	Now func() time.Time
	// Scopes are the access scopes the token was granted (default
	// read_products, read_customers, read_orders and read_all_orders).
	Scopes []string
}

// Server serves a Shopify store's GraphQL Admin API.
type Server struct {
	cfg Config

	mu        sync.Mutex
	data      map[string]table
	available float64
	at        time.Time
	stats     Stats
	hooks     []Hook
	bulk      bulkState
	// views are the filtered or re-sorted listings read so far, dropped
	// whenever the data changes.
	views map[string]*view
	// served counts the records answered, in pages and bulk results.
	served atomic.Int64
}

// Served counts the records the server answered, in pages and in bulk
// results: what a run's progress counts.
func (s *Server) Served() int64 { return s.served.Load() }

// Stats counts what the server answered.
type Stats struct {
	Requests, Throttled, Unauthorized int
	// Nodes counts the nodes served, by connection.
	Nodes map[string]int
}

// Fault is a way to answer one request other than the store would.
type Fault struct {
	// Status, when set, is answered with an empty JSON object.
	Status int
	// Throttle answers THROTTLED whatever the bucket holds, with
	// ThrottleStatus (default 200).
	Throttle       bool
	ThrottleStatus int
	// CutOff sends half of the real answer, then closes the connection.
	CutOff bool
	// Drip, when set, sends the real answer's headers at once and then its
	// body one byte every Drip.
	Drip time.Duration
}

// Hook is called with every request's operation, variables and number
// (from 0); a Fault it returns changes the answer.
type Hook func(op string, vars map[string]any, n int) *Fault

// NewServer returns a Server holding data.
func NewServer(cfg Config, data Connections) *Server {
	if len(cfg.Versions) == 0 {
		cfg.Versions = []string{"2025-07"}
	}
	if cfg.Bucket.Max <= 0 {
		cfg.Bucket = Bucket{Max: 1000, RestoreRate: 50}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"read_products", "read_customers", "read_orders", "read_all_orders"}
	}
	s := &Server{cfg: cfg, data: map[string]table{}, available: cfg.Bucket.Max, at: cfg.Now(), stats: Stats{Nodes: map[string]int{}}}
	for k, nodes := range data {
		t := nodeSlice(slices.Clone(nodes))
		slices.SortFunc(t, func(a, b Node) int { return cmp.Compare(idKey(a.ID), idKey(b.ID)) })
		s.data[k] = t
	}
	return s
}

// Generate makes a connection of n nodes, the i-th made by node(i) when it
// is asked for, in the order of their ids (id(i) is the i-th node's id, and
// ids grow with i): a catalogue of any size without holding it.
func (s *Server) Generate(connection string, n int, id func(i int) string, node func(i int) Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[connection] = generated{n: n, id: id, node: node}
	s.views = nil
}

// table is a connection's nodes in the order of their ids.
type table interface {
	Len() int
	ID(i int) string
	At(i int) Node
}

// nodeSlice is a table held in memory, sorted by idKey.
type nodeSlice []Node

func (t nodeSlice) Len() int        { return len(t) }
func (t nodeSlice) ID(i int) string { return t[i].ID }
func (t nodeSlice) At(i int) Node   { return t[i] }

// generated is a table made on demand (Generate).
type generated struct {
	n    int
	id   func(int) string
	node func(int) Node
}

func (g generated) Len() int        { return g.n }
func (g generated) ID(i int) string { return g.id(i) }
func (g generated) At(i int) Node   { return g.node(i) }

// idKey orders nodes by the number in their GID, then the GID.
func idKey(gid string) string { return fmt.Sprintf("%020d", numericID(gid)) + "\x00" + gid }

// Stats returns what the server has answered so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Nodes = map[string]int{}
	for k, v := range s.stats.Nodes {
		out.Nodes[k] = v
	}
	return out
}

// Upsert adds a node to a connection or replaces the one with its id.
func (s *Server) Upsert(connection string, n Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var nodes nodeSlice
	if t := s.data[connection]; t != nil {
		if ns, ok := t.(nodeSlice); ok {
			nodes = ns
		} else {
			for i := range t.Len() { // a generated table, held from now on
				nodes = append(nodes, t.At(i))
			}
		}
	}
	i, found := slices.BinarySearchFunc(nodes, idKey(n.ID), func(x Node, k string) int { return cmp.Compare(idKey(x.ID), k) })
	if found {
		nodes[i] = n
	} else {
		nodes = slices.Insert(nodes, i, n)
	}
	s.data[connection] = nodes
	s.views = nil
}

// Delete removes a node from a connection, as a store deleting a record
// does; a product's deletion is written to the deletionEvents feed, as
// Shopify does for products (and not for orders or customers).
func (s *Server) Delete(connection, id string, at time.Time) {
	s.mu.Lock()
	t := s.data[connection]
	var kept nodeSlice
	if t != nil {
		for i := range t.Len() {
			if n := t.At(i); n.ID != id {
				kept = append(kept, n)
			}
		}
	}
	s.data[connection] = kept
	s.views = nil
	s.mu.Unlock()
	if connection == "products" {
		ev := fmt.Sprintf(`{"subjectId":%q,"subjectType":"PRODUCT","occurredAt":%q}`, id, at.UTC().Format(time.RFC3339))
		s.Upsert("deletionEvents", Node{ID: fmt.Sprintf("gid://shopify/DeletionEvent/%d", at.UnixNano()), UpdatedAt: at, JSON: json.RawMessage(ev)})
	}
}

// OnRequest adds a hook; the first hook that returns a Fault for a request
// answers it.
func (s *Server) OnRequest(hook Hook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, hook)
}

// request is a GraphQL request body.
type request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

var pathRE = regexp.MustCompile(`^/admin/api/([^/]+)/graphql\.json$`)

// ServeHTTP answers the Admin GraphQL endpoint and the bulk operations'
// result files.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/bulk-results/") {
		s.serveBulkResult(w, r)
		return
	}
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.NotFound(w, r)
		return
	}
	if !slices.Contains(s.cfg.Versions, m[1]) {
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"errors": "use POST"})
		return
	}
	if r.Header.Get("X-Shopify-Access-Token") != s.cfg.Token || s.cfg.Token == "" {
		s.mu.Lock()
		s.stats.Unauthorized++
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	var req request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": "body is not a GraphQL request: " + err.Error()})
		return
	}
	s.mu.Lock()
	n := s.stats.Requests
	s.stats.Requests++
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()
	var fault *Fault
	for _, h := range hooks {
		if fault = h(req.OperationName, req.Variables, n); fault != nil {
			break
		}
	}
	switch {
	case fault != nil && fault.Drip > 0:
		rec := httptest.NewRecorder()
		s.serve(rec, r, req, 0)
		storefront.Trickle(w, r, rec, fault.Drip)
		return
	case fault != nil && fault.CutOff:
		rec := httptest.NewRecorder()
		s.serve(rec, r, req, 0)
		storefront.CutOff(w, rec, false)
		return
	case fault != nil && fault.Status != 0:
		writeJSON(w, fault.Status, map[string]any{})
		return
	}
	throttle := 0
	if fault != nil && fault.Throttle {
		throttle = max(fault.ThrottleStatus, http.StatusOK)
	}
	s.serve(w, r, req, throttle)
}

// serve answers a GraphQL request; throttle, when not 0, is the HTTP status
// of a THROTTLED answer it gives whatever the bucket holds.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, req request, throttle int) {
	if s.serveBulk(w, r, req) {
		return
	}
	if req.OperationName == "AccessScopes" {
		scopes := make([]any, len(s.cfg.Scopes))
		for i, sc := range s.cfg.Scopes {
			scopes[i] = map[string]string{"handle": sc}
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"currentAppInstallation": map[string]any{"accessScopes": scopes}}})
		return
	}
	conn, ok := operations[req.OperationName]
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []any{map[string]any{
			"message": fmt.Sprintf("the stand-in does not answer operation %q", req.OperationName)}}})
		return
	}
	s.answer(w, conn, req.Variables, throttle)
}

// operations maps the adapter's operation names to their connection.
var operations = map[string]string{
	"Products": "products", "Customers": "customers", "Orders": "orders", "AbandonedCheckouts": "abandonedCheckouts",
	"DeletionEvents": "deletionEvents", "OrderIDs": "orders", "CustomerIDs": "customers",
}

// NodeCost is what one node of a connection costs: the object and the
// nested connection of its lines or variants, as Shopify counts them.
const NodeCost = 2

// answer serves one page of conn, charging its cost.
func (s *Server) answer(w http.ResponseWriter, conn string, vars map[string]any, throttle int) {
	first := intVar(vars, "first", 50)
	if first < 1 || first > 250 {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []any{map[string]any{
			"message": "The first argument must be between 1 and 250", "extensions": map[string]any{"code": "BAD_REQUEST"}}}})
		return
	}
	requested := float64(2 + first*NodeCost)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	s.available = math.Min(s.cfg.Bucket.Max, s.available+now.Sub(s.at).Seconds()*s.cfg.Bucket.RestoreRate)
	s.at = now
	if requested > s.cfg.Bucket.Max {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []any{map[string]any{
			"message":    fmt.Sprintf("Query cost is %.0f, which exceeds the single query max cost limit (%.0f).", requested, s.cfg.Bucket.Max),
			"extensions": map[string]any{"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": s.cfg.Bucket.Max}}}})
		return
	}
	if throttle != 0 || requested > s.available {
		s.stats.Throttled++
		writeJSON(w, max(throttle, http.StatusOK), map[string]any{
			"errors":     []any{map[string]any{"message": "Throttled", "extensions": map[string]any{"code": "THROTTLED"}}},
			"extensions": s.cost(requested, nil),
		})
		return
	}
	page, info := s.page(conn, vars, first)
	actual := float64(2 + len(page)*NodeCost)
	s.available -= actual
	s.stats.Nodes[conn] += len(page)
	s.served.Add(int64(len(page)))
	writePage(w, conn, page, info, s.cost(requested, &actual))
}

// writePage answers a page of conn: {"data":{conn:{"nodes":[…],"pageInfo":…}},
// "extensions":…}, the nodes, JSON already, joined rather than encoded again.
func writePage(w http.ResponseWriter, conn string, page []Node, info, extensions any) {
	name, err1 := json.Marshal(conn)
	pageInfo, err2 := json.Marshal(info)
	ext, err3 := json.Marshal(extensions)
	if err := errors.Join(err1, err2, err3); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"errors": []any{map[string]any{"message": err.Error()}}})
		return
	}
	size := 0
	for _, n := range page {
		size += len(n.JSON) + 1
	}
	out := make([]byte, 0, size+len(pageInfo)+len(ext)+64)
	out = append(append(append(out, `{"data":{`...), name...), `:{"nodes":[`...)
	for i, n := range page {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, n.JSON...)
	}
	out = append(append(out, `],"pageInfo":`...), pageInfo...)
	out = append(append(append(out, `}},"extensions":`...), ext...), "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func (s *Server) cost(requested float64, actual *float64) map[string]any {
	return map[string]any{"cost": map[string]any{
		"requestedQueryCost": requested,
		"actualQueryCost":    actual,
		"throttleStatus": map[string]any{
			"maximumAvailable":   s.cfg.Bucket.Max,
			"currentlyAvailable": math.Floor(s.available),
			"restoreRate":        s.cfg.Bucket.RestoreRate,
		},
	}}
}

// updatedAfterRE is the filter of an incremental listing (updated_at), or of
// the deletion feed (occurred_at: a deletion node's UpdatedAt).
var updatedAfterRE = regexp.MustCompile(`^(?:updated_at|occurred_at):>'([^']+)'$`)

// page returns the nodes of conn after the cursor, in the order asked for.
// Cursors are positions in a stable order (sort key, then id), so a node
// updated while a listing is read moves to the end instead of being skipped.
// A page in id order is found by binary search; a filtered or re-sorted
// listing reads the whole table (an incremental listing, usually small).
func (s *Server) page(conn string, vars map[string]any, first int) ([]Node, map[string]any) {
	t := s.data[conn]
	if t == nil {
		t = nodeSlice(nil)
	}
	q, _ := vars["query"].(string)
	byUpdated := vars["sortKey"] == "UPDATED_AT"
	key := func(n Node) string {
		if byUpdated {
			return n.UpdatedAt.UTC().Format(time.RFC3339Nano) + "\x00" + n.ID
		}
		return idKey(n.ID)
	}
	after := ""
	if c, _ := vars["after"].(string); c != "" {
		b, _ := base64.StdEncoding.DecodeString(c)
		after = string(b)
	}
	var nodes []Node
	if q == "" && !byUpdated {
		start := sort.Search(t.Len(), func(i int) bool { return idKey(t.ID(i)) > after })
		for i := start; i < t.Len() && len(nodes) <= first; i++ {
			nodes = append(nodes, t.At(i))
		}
	} else {
		v := s.view(conn, t, q, byUpdated, key)
		start := sort.SearchStrings(v.keys, after)
		if start < len(v.keys) && v.keys[start] == after {
			start++
		}
		for j := start; j < len(v.keys) && len(nodes) <= first; j++ {
			nodes = append(nodes, t.At(v.index[j]))
		}
	}
	more := len(nodes) > first
	nodes = nodes[:min(first, len(nodes))]
	info := map[string]any{"hasNextPage": more, "endCursor": nil}
	if len(nodes) > 0 {
		info["endCursor"] = base64.StdEncoding.EncodeToString([]byte(key(nodes[len(nodes)-1])))
	}
	return nodes, info
}

// view is a filtered or re-sorted listing of a connection: the position in
// the table of each node it holds, in its order, and each one's cursor key.
type view struct {
	keys  []string
	index []int
}

// view returns the listing of t that query and the sort ask for, built on
// first use and kept until the data changes (s.mu is held): a listing read
// page by page filters and sorts the table once, not once a page.
func (s *Server) view(conn string, t table, query string, byUpdated bool, key func(Node) string) *view {
	name := fmt.Sprintf("%s\x00%s\x00%v", conn, query, byUpdated)
	if v, ok := s.views[name]; ok {
		return v
	}
	since, filtered := time.Time{}, false
	if m := updatedAfterRE.FindStringSubmatch(strings.TrimSpace(query)); m != nil {
		if at, err := time.Parse(time.RFC3339, m[1]); err == nil {
			since, filtered = at, true
		}
	}
	v := &view{}
	for i := range t.Len() {
		if n := t.At(i); !filtered || n.UpdatedAt.After(since) {
			v.keys, v.index = append(v.keys, key(n)), append(v.index, i)
		}
	}
	order := make([]int, len(v.keys))
	for j := range order {
		order[j] = j
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(v.keys[a], v.keys[b]) })
	sorted := &view{keys: make([]string, len(order)), index: make([]int, len(order))}
	for j, o := range order {
		sorted.keys[j], sorted.index[j] = v.keys[o], v.index[o]
	}
	if s.views == nil {
		s.views = map[string]*view{}
	}
	s.views[name] = sorted
	return sorted
}

// numericID is the number at the end of a GID such as
// gid://shopify/Product/123.
func numericID(gid string) int64 {
	n, _ := strconv.ParseInt(gid[strings.LastIndexByte(gid, '/')+1:], 10, 64)
	return n
}

func intVar(vars map[string]any, name string, def int) int {
	if f, ok := vars[name].(float64); ok {
		return int(f)
	}
	return def
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
