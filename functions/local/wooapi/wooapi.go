// Package wooapi is a stand-in for the WooCommerce REST API v3, written from
// its public documentation, for local runs and tests:
// /wp-json/wc/v3/products, /customers and /orders, listed page by page
// (page, per_page up to 100) in the order asked for (orderby id or
// modified, order asc or desc), filtered by modified_after (with
// dates_are_gmt), with the X-WP-Total and X-WP-TotalPages headers, and
// _fields=id for a listing of ids. Credentials are HTTP Basic (consumer key
// and secret) or, for servers that strip the Authorization header, the
// consumer_key and consumer_secret query parameters; others are refused
// with WooCommerce's 401 error document. Orders in the trash are listed
// only when asked for by status.
package wooapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one product, customer or order: its id, when it was last
// modified (GMT), its status (for orders: trash is in the trash) and its
// JSON as the API answers it.
type Record struct {
	ID       int64
	Modified time.Time
	Status   string
	JSON     json.RawMessage
}

// Config configures a Server.
type Config struct {
	ConsumerKey, ConsumerSecret string
}

// Server serves a WooCommerce store's REST API.
type Server struct {
	cfg Config

	mu        sync.Mutex
	data      map[string][]Record // by endpoint, sorted by id
	generated map[string]generator
	requests  int
	hooks     []Hook
	served    atomic.Int64
}

// Hook is called with every authenticated request's endpoint, page and
// number (from 0); a non-nil handler it returns answers instead.
type Hook func(endpoint string, page, n int) http.Handler

// NewServer returns a Server holding data by endpoint (products, customers,
// orders).
func NewServer(cfg Config, data map[string][]Record) *Server {
	s := &Server{cfg: cfg, data: map[string][]Record{}, generated: map[string]generator{}}
	for k, rs := range data {
		rs = slices.Clone(rs)
		slices.SortFunc(rs, func(a, b Record) int { return cmp.Compare(a.ID, b.ID) })
		s.data[k] = rs
	}
	return s
}

// generator makes an endpoint's records on demand: n of them, the i-th by
// make(i), ids growing with i, none in the trash.
type generator struct {
	n    int
	make func(i int) Record
}

// Generate makes endpoint a listing of n records, the i-th made by
// record(i) when it is asked for (ids growing with i, none in the trash): a
// store of any size without holding it. Only whole listings in id order are
// served from it; a filtered one finds nothing.
func (s *Server) Generate(endpoint string, n int, record func(i int) Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generated[endpoint] = generator{n: n, make: record}
}

// Requests counts the requests answered.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Put adds a record to an endpoint or replaces the one with its id.
func (s *Server) Put(endpoint string, r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.data[endpoint]
	i, found := slices.BinarySearchFunc(rs, r.ID, func(x Record, id int64) int { return cmp.Compare(x.ID, id) })
	if found {
		rs[i] = r
	} else {
		rs = slices.Insert(rs, i, r)
	}
	s.data[endpoint] = rs
}

// Remove deletes a record for good (not to the trash).
func (s *Server) Remove(endpoint string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[endpoint] = slices.DeleteFunc(s.data[endpoint], func(r Record) bool { return r.ID == id })
}

// Trash moves a record to the trash at a time, as WooCommerce's delete
// without force does: its status becomes trash and it is modified then,
// the rest of it as it was. A record the endpoint does not hold is left so.
func (s *Server) Trash(endpoint string, id int64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.data[endpoint] {
		if r.ID != id {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(r.JSON, &fields); err != nil {
			return fmt.Errorf("trash %s %d: %w", endpoint, id, err)
		}
		fields["status"], fields["date_modified_gmt"] = "trash", at.UTC().Format(GMT)
		b, err := json.Marshal(fields)
		if err != nil {
			return fmt.Errorf("trash %s %d: %w", endpoint, id, err)
		}
		s.data[endpoint][i] = Record{ID: id, Modified: at, Status: "trash", JSON: b}
	}
	return nil
}

// OnRequest adds a hook.
func (s *Server) OnRequest(h Hook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, h)
}

const prefix = "/wp-json/wc/v3/"

// ServeHTTP answers the REST endpoints of products, customers and orders.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || !slices.Contains([]string{"products", "customers", "orders"}, endpoint) {
		wooError(w, http.StatusNotFound, "rest_no_route", "No route was found matching the URL and request method.")
		return
	}
	key, secret, basic := r.BasicAuth()
	if !basic {
		key, secret = r.URL.Query().Get("consumer_key"), r.URL.Query().Get("consumer_secret")
	}
	if key != s.cfg.ConsumerKey || secret != s.cfg.ConsumerSecret || key == "" {
		wooError(w, http.StatusUnauthorized, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
		return
	}
	q := r.URL.Query()
	page := atoi(q.Get("page"), 1)
	perPage := atoi(q.Get("per_page"), 10)
	if page < 1 || perPage < 1 || perPage > 100 {
		wooError(w, http.StatusBadRequest, "rest_invalid_param", "Invalid parameter(s): per_page, page")
		return
	}
	s.mu.Lock()
	n := s.requests
	s.requests++
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()
	for _, h := range hooks {
		if alt := h(endpoint, page, n); alt != nil {
			alt.ServeHTTP(w, r)
			return
		}
	}
	s.list(w, endpoint, q, page, perPage)
}

// list answers one page of an endpoint.
func (s *Server) list(w http.ResponseWriter, endpoint string, q map[string][]string, page, perPage int) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var after time.Time
	if v := get("modified_after"); v != "" {
		t, err := time.Parse("2006-01-02T15:04:05", strings.TrimSuffix(v, "Z"))
		if err != nil {
			wooError(w, http.StatusBadRequest, "rest_invalid_param", "Invalid parameter(s): modified_after")
			return
		}
		after = t
	}
	status := get("status")
	s.mu.Lock()
	if g, ok := s.generated[endpoint]; ok {
		s.mu.Unlock()
		total := g.n
		if status == "trash" || !after.IsZero() {
			total = 0
		}
		from := min((page-1)*perPage, total)
		body := make([]json.RawMessage, 0, perPage)
		for i := from; i < min(from+perPage, total); i++ {
			body = append(body, g.make(i).JSON)
		}
		writePage(w, body, total, perPage)
		return
	}
	var rs []Record
	for _, r := range s.data[endpoint] {
		trashed := r.Status == "trash"
		if (status == "trash") != trashed && status != "any-with-trash" {
			continue
		}
		if !after.IsZero() && !r.Modified.After(after) {
			continue
		}
		rs = append(rs, r)
	}
	s.mu.Unlock()
	if get("orderby") == "modified" {
		slices.SortStableFunc(rs, func(a, b Record) int { return a.Modified.Compare(b.Modified) })
	}
	if get("order") == "desc" {
		slices.Reverse(rs)
	}
	total := len(rs)
	from := min((page-1)*perPage, total)
	rs = rs[from:min(from+perPage, total)]
	body := make([]json.RawMessage, len(rs))
	for i, r := range rs {
		body[i] = r.JSON
		if get("_fields") == "id" {
			body[i] = json.RawMessage(`{"id":` + strconv.FormatInt(r.ID, 10) + `}`)
		}
	}
	s.served.Add(int64(len(body)))
	writePage(w, body, total, perPage)
}

// Served counts the records the server answered: what a run's progress
// counts.
func (s *Server) Served() int64 { return s.served.Load() }

// writePage answers a page with the totals in the headers.
func writePage(w http.ResponseWriter, body []json.RawMessage, total, perPage int) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("X-WP-Total", strconv.Itoa(total))
	w.Header().Set("X-WP-TotalPages", strconv.Itoa((total+perPage-1)/perPage))
	// The records are JSON already: joined, not encoded again.
	out := append(make([]byte, 0, 512*len(body)), '[')
	for i, r := range body {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	_, _ = w.Write(append(out, ']', '\n'))
}

func atoi(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// wooError writes WooCommerce's error document.
func wooError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "data": map[string]int{"status": status}})
}

// GMT is how WooCommerce writes a *_gmt time: no zone, UTC.
const GMT = "2006-01-02T15:04:05"

// Refuse is a handler answering as a store that refuses the credentials.
func Refuse() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wooError(w, http.StatusUnauthorized, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match.")
	})
}

// Unavailable is a handler answering 503 with Retry-After: 1.
func Unavailable() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	})
}

// HTMLPage is a handler answering 200 with a WordPress error page, as a
// caching plugin or a fatal PHP error does.
func HTMLPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		fmt.Fprint(w, `<!DOCTYPE html><html><head><title>WordPress &rsaquo; Error</title></head><body><p>There has been a critical error on this website.</p></body></html>`)
	})
}
