// Package shopify reads a Shopify store through the GraphQL Admin API: the
// API version pinned in the URL (/admin/api/<version>/graphql.json), the
// access token in X-Shopify-Access-Token, connections read a cursor page at
// a time (first/after, pageInfo { hasNextPage endCursor }). Its pace follows
// the cost bucket every answer reports in extensions.cost, never a
// hard-coded rate: before a query it waits until the bucket, as last
// reported and restored since, holds what that query cost the last time; an
// answer THROTTLED anyway (with HTTP 200 or 429) waits until the bucket has
// restored enough and is asked again. Requests keep every bound of
// shared/source (timeouts, the slowest pace, the retry budget).
package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/shoplake/shoplake/shared/source"
)

// MaxPageSize is the most nodes Shopify returns in one page.
const MaxPageSize = 250

// Config configures a Client.
type Config struct {
	// BaseURL is the store, https://<shop>.myshopify.com (any http(s) root
	// for the local stand-in).
	BaseURL string
	// Store names the store in its records (source_store); default BaseURL.
	Store string
	// APIVersion is the pinned Admin API version, such as 2025-07.
	APIVersion string
	// AccessToken is the Admin API access token.
	AccessToken string
	// TokenName says where the token came from (a Secret Manager version or
	// a variable), for errors; never the token itself.
	TokenName string
	// PageSize is how many nodes a page asks for (default and most, 250).
	PageSize int
	// HTTP bounds every request as shared/source does (timeouts, pace,
	// retries, budget); its BaseURL and key are set from the fields above.
	HTTP source.Config
	// BulkPoll is how often a bulk operation's status is asked (default
	// DefaultBulkPoll).
	BulkPoll time.Duration
}

var versionRE = regexp.MustCompile(`^(20[0-9]{2})-(01|04|07|10)$`)

// CheckAPIVersion reports an API version that is not one Shopify releases
// (YYYY-01, -04, -07 or -10).
func CheckAPIVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("shopify API version %q is not a release: want YYYY-MM with MM 01, 04, 07 or 10, such as 2025-07", v)
	}
	return nil
}

// Client runs queries against one store.
type Client struct {
	cfg  Config
	http *source.Client
	// download reads bulk results: the same bounds, no token (the result
	// lives on another host).
	download *source.Client
	path     string
	sleep    func(context.Context, time.Duration) error
	now      func() time.Time
	bucket   bucket
}

// New returns a Client for cfg. An API version that is not one Shopify
// releases (YYYY-01, -04, -07 or -10) is an error here, at start-up.
func New(cfg Config) (*Client, error) {
	if err := CheckAPIVersion(cfg.APIVersion); err != nil {
		return nil, err
	}
	if cfg.AccessToken == "" {
		return nil, fmt.Errorf("shopify access token from %s is empty: add the token as the secret's value", cfg.TokenName)
	}
	if cfg.PageSize <= 0 || cfg.PageSize > MaxPageSize {
		cfg.PageSize = MaxPageSize
	}
	h := cfg.HTTP
	h.BaseURL, h.APIKey, h.APIKeyHeader = cfg.BaseURL, cfg.AccessToken, "X-Shopify-Access-Token"
	if h.RequestsPerSecond <= 0 {
		h.RequestsPerSecond = 1000 // the cost bucket paces, not a request rate
	}
	hc, err := source.New(h, nil)
	if err != nil {
		return nil, fmt.Errorf("shopify: %w", err)
	}
	h.APIKey = ""
	dl, err := source.New(h, nil)
	if err != nil {
		return nil, fmt.Errorf("shopify: %w", err)
	}
	if cfg.BulkPoll <= 0 {
		cfg.BulkPoll = DefaultBulkPoll
	}
	return &Client{cfg: cfg, http: hc, download: dl, path: "/admin/api/" + cfg.APIVersion + "/graphql.json", sleep: sleepCtx, now: time.Now,
		bucket: bucket{cost: map[string]float64{}}}, nil
}

// Errors callers may branch on.
var (
	// ErrUnauthorized reports a token the store refused (HTTP 401 or 403).
	ErrUnauthorized = errors.New("shopify refused the access token")
	// ErrMaxCost reports a query that costs more than a bucket can ever
	// hold: a bug in Shoplake's query, not a state of the store.
	ErrMaxCost = errors.New("query exceeds Shopify's maximum cost")
)

// Stats counts what a Client has sent and waited for.
type Stats struct {
	Requests, Throttled int
	Waited              time.Duration
}

// Stats returns the Client's counts so far.
func (c *Client) Stats() Stats {
	c.bucket.mu.Lock()
	defer c.bucket.mu.Unlock()
	return c.bucket.stats
}

// Each reads every node of connection (products, orders, …) with query, a
// named operation taking $first and $after (and any of vars), and calls fn
// with each node in order. Each page is its own attempt, retried while its
// failures are transient; a page that still fails ends the listing with
// fn having seen the earlier pages, so the caller publishes nothing of it.
// While fn reads one page the next is already asked for: one request in
// flight at a time, as the pacing expects.
func (c *Client) Each(ctx context.Context, op, query, connection string, vars map[string]any, fn func(node json.RawMessage) error) error {
	return source.Paged(ctx, func(ctx context.Context, n int, prev page) (page, bool, error) {
		p, err := c.page(ctx, op, query, connection, vars, n, prev.cursor)
		return p, p.more, err
	}, func(_ int, p page) error {
		for _, node := range p.nodes {
			if err := fn(json.RawMessage(node)); err != nil {
				return err
			}
		}
		return nil
	})
}

// page is one page of a connection.
type page struct {
	nodes  []jsontext.Value
	more   bool
	cursor string
}

// page reads page n of a connection, the one after cursor after.
func (c *Client) page(ctx context.Context, op, query, connection string, vars map[string]any, n int, after string) (page, error) {
	v := map[string]any{"first": c.cfg.PageSize}
	for k, x := range vars {
		v[k] = x
	}
	if after != "" {
		v["after"] = after
	}
	var data map[string]struct {
		Nodes    []jsontext.Value `json:"nodes"`
		PageInfo struct {
			HasNextPage bool    `json:"hasNextPage"`
			EndCursor   *string `json:"endCursor"`
		} `json:"pageInfo"`
	}
	if err := c.Query(ctx, op, query, v, &data); err != nil {
		return page{}, fmt.Errorf("%s page %d: %w", connection, n, err)
	}
	conn, ok := data[connection]
	if !ok {
		return page{}, fmt.Errorf("shopify %s page %d: the answer has no %s connection", op, n, connection)
	}
	p := page{nodes: conn.Nodes, more: conn.PageInfo.HasNextPage}
	if p.more {
		if conn.PageInfo.EndCursor == nil || *conn.PageInfo.EndCursor == "" || *conn.PageInfo.EndCursor == after {
			return page{}, fmt.Errorf("shopify %s page %d: hasNextPage without a new endCursor", op, n)
		}
		p.cursor = *conn.PageInfo.EndCursor
	}
	return p, nil
}

// Query runs the named operation op once, decoding its data into out: paced
// by the cost bucket, THROTTLED answers waited out, transient failures
// retried within the HTTP settings' budget.
func (c *Client) Query(ctx context.Context, op, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "operationName": op, "variables": vars})
	if err != nil {
		return fmt.Errorf("shopify %s: %w", op, err)
	}
	return c.http.Retry(ctx, "shopify "+op, func(ctx context.Context) error {
		for {
			if err := c.pace(ctx, op); err != nil {
				return err
			}
			resp, err := c.http.Post(ctx, c.path, body)
			c.bucket.count(func(s *Stats) { s.Requests++ })
			if err != nil {
				return err
			}
			wait, err := c.read(op, resp, out)
			if err != nil || wait == 0 {
				return err
			}
			c.bucket.count(func(s *Stats) { s.Throttled++; s.Waited += wait })
			if err := c.sleep(ctx, wait); err != nil {
				return fmt.Errorf("shopify %s: throttled, and %w while waiting", op, err)
			}
		}
	})
}

// answer is a GraphQL response.
type answer struct {
	// Data holds the caller's pointer, so the data is decoded into it in
	// the same pass as the rest.
	Data   any            `json:"data"`
	Errors jsontext.Value `json:"errors"`
	Ext    struct {
		Cost *cost `json:"cost"`
	} `json:"extensions"`
}

type cost struct {
	Requested float64  `json:"requestedQueryCost"`
	Actual    *float64 `json:"actualQueryCost"`
	Throttle  struct {
		Max       float64 `json:"maximumAvailable"`
		Available float64 `json:"currentlyAvailable"`
		Restore   float64 `json:"restoreRate"`
	} `json:"throttleStatus"`
}

type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// read judges one response: the data decoded into out, or how long to wait
// before asking again (THROTTLED), or the error.
func (c *Client) read(op string, resp *source.Response, out any) (time.Duration, error) {
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return 0, fmt.Errorf("%w (HTTP %d) read from %s: check the token and the app's scopes", ErrUnauthorized, s, c.cfg.TokenName)
	case s == http.StatusNotFound:
		return 0, fmt.Errorf("shopify %s: HTTP 404 at %s: the store or API version %s does not exist", op, c.path, c.cfg.APIVersion)
	}
	a := answer{Data: out}
	jsonErr := source.Decode(resp.Body, &a)
	if a.Ext.Cost != nil {
		c.bucket.observe(op, *a.Ext.Cost, c.now())
	}
	var errs []gqlError
	if len(a.Errors) > 0 && a.Errors[0] == '[' {
		_ = source.Decode(a.Errors, &errs)
	}
	for _, e := range errs {
		switch e.Extensions.Code {
		case "THROTTLED":
			return c.bucket.throttledWait(a.Ext.Cost), nil
		case "MAX_COST_EXCEEDED":
			return 0, fmt.Errorf("%w: operation %s: %s", ErrMaxCost, op, e.Message)
		}
	}
	if wait, ok := resp.Retryable(); ok {
		return 0, source.Transient(fmt.Errorf("shopify %s: HTTP %d", op, resp.StatusCode), wait)
	}
	switch s := resp.StatusCode; {
	case s < 200 || s > 299:
		return 0, fmt.Errorf("shopify %s: HTTP %d: %.200s", op, s, resp.Body)
	case jsonErr != nil:
		return 0, fmt.Errorf("shopify %s: the answer is not GraphQL JSON (%v): %.100q", op, jsonErr, resp.Body)
	case len(errs) > 0:
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Message
		}
		return 0, fmt.Errorf("shopify %s: %s", op, strings.Join(msgs, "; "))
	}
	return 0, nil
}

// pace waits until the bucket should hold what op cost the last time.
func (c *Client) pace(ctx context.Context, op string) error {
	wait := c.bucket.waitFor(op, c.now())
	if wait <= 0 {
		return nil
	}
	c.bucket.count(func(s *Stats) { s.Waited += wait })
	return c.sleep(ctx, wait)
}

// bucket is the client's model of the store's cost bucket, from the last
// throttleStatus, and of what each operation costs.
type bucket struct {
	mu                      sync.Mutex
	known                   bool
	max, available, restore float64
	at                      time.Time
	cost                    map[string]float64 // requestedQueryCost by operation
	stats                   Stats
}

func (b *bucket) count(f func(*Stats)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.stats)
}

func (b *bucket) observe(op string, c cost, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cost[op] = c.Requested
	if c.Throttle.Restore > 0 {
		b.known = true
		b.max, b.available, b.restore, b.at = c.Throttle.Max, c.Throttle.Available, c.Throttle.Restore, now
	}
}

// waitFor is how long until the bucket holds op's last requested cost.
func (b *bucket) waitFor(op string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	need, ok := b.cost[op]
	if !b.known || !ok {
		return 0
	}
	need = math.Min(need, b.max)
	have := math.Min(b.max, b.available+now.Sub(b.at).Seconds()*b.restore)
	if have >= need {
		b.available, b.at = have-need, now // what this query will take
		return 0
	}
	// One point more than needed, rounded up to the millisecond: the
	// bucket is reported in whole points, and a wait a hair short is
	// answered THROTTLED.
	wait := time.Duration(math.Ceil((need-have+1)/b.restore*1000)) * time.Millisecond
	b.available, b.at = 0, now.Add(wait)
	return wait
}

// throttledWait is how long a THROTTLED answer asks to wait: until the
// bucket restores what the query requested (at least a second when the
// answer says nothing).
func (b *bucket) throttledWait(c *cost) time.Duration {
	if c == nil || c.Throttle.Restore <= 0 {
		return time.Second
	}
	need := c.Requested - c.Throttle.Available
	return max(time.Duration(need/c.Throttle.Restore*float64(time.Second)), 100*time.Millisecond)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
