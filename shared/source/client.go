// Package source is a client for FakeStore-compatible storefront REST APIs. It
// streams the JSON array a list endpoint returns, one raw element at a time, so
// memory does not grow with the catalogue; it rate-limits its own requests,
// caps the size of a response and of one record, and tells transient failures
// (network errors, timeouts, 408, 429, 5xx, a body that ends early or stops
// arriving) from permanent ones, so that Retry can start a whole fetch over
// with exponential backoff and jitter, honouring Retry-After.
package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/secrets"
)

// DefaultTimeout is Config.Timeout's default (SOURCE_TIMEOUT).
const DefaultTimeout = 30 * time.Second

// Config configures a Client. Zero durations and limits take the defaults noted.
type Config struct {
	// BaseURL is the API root, such as https://fakestoreapi.com.
	BaseURL string
	// APIKey, when set, is sent in APIKeyHeader on every request.
	APIKey string
	// APIKeyHeader names the header carrying APIKey (default "X-API-Key").
	APIKeyHeader string
	// APIKeySecret, when set, is a Secret Manager version holding the API
	// key (SOURCE_API_KEY_SECRET); Open reads it once, at start-up.
	APIKeySecret string
	// Timeout bounds connecting, waiting for response headers, and any pause
	// while the body streams (default 30s); it is also the stretch of waiting
	// over which MinBytesPerSecond is measured (SOURCE_TIMEOUT).
	Timeout time.Duration
	// RequestTimeout bounds one request from its start to the last byte of
	// its body, however steadily the body arrives (default 2m;
	// SOURCE_REQUEST_TIMEOUT). A request never runs past its fetch's
	// RetryBudget either.
	RequestTimeout time.Duration
	// MinBytesPerSecond is the slowest pace a body may arrive at: over each
	// stretch of Timeout spent waiting for it, fewer bytes than this a second
	// end the request as stalled (default 1024; negative checks only for
	// pauses of Timeout; SOURCE_MIN_BYTES_PER_SECOND, where 0 means that).
	MinBytesPerSecond int64
	// MaxRetries is how many times Retry starts a failed fetch over (default
	// 4; negative means none).
	MaxRetries int
	// RetryBudget bounds the time Retry spends on one fetch, attempts and
	// waits together: no new attempt starts once it is spent, and a request
	// still running then is cancelled (default 5m; SOURCE_RETRY_BUDGET).
	RetryBudget time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff (defaults 500ms, 30s).
	BackoffBase, BackoffMax time.Duration
	// RequestsPerSecond is the client-side rate limit (default 5).
	RequestsPerSecond float64
	// MaxResponseBytes caps one response body (default 1 GiB).
	MaxResponseBytes int64
	// MaxRecordBytes caps one element of a list (default 16 MiB); a larger
	// element is skipped and reported, and the rest of the list is read.
	MaxRecordBytes int
	// MaxShrink is the largest fall in a listing's size, as a fraction of the
	// last accepted one, taken as real (default 0.5; see CheckShrink).
	MaxShrink float64
	// SecretParams name query parameters that carry credentials (an API
	// that takes its keys in the query string); Fetch's errors show them
	// as REDACTED.
	SecretParams []string
}

// ReadConfig reads the SOURCE_* variables shared by every function that calls
// the storefront.
func ReadConfig(r *config.Reader) Config {
	cfg := Config{
		BaseURL:           r.Required("SOURCE_BASE_URL"),
		APIKey:            r.String("SOURCE_API_KEY", ""),
		APIKeyHeader:      r.String("SOURCE_API_KEY_HEADER", "X-API-Key"),
		Timeout:           r.Duration("SOURCE_TIMEOUT", 0),
		RequestTimeout:    r.Duration("SOURCE_REQUEST_TIMEOUT", 0),
		MinBytesPerSecond: minBytesPerSecond(r.Int("SOURCE_MIN_BYTES_PER_SECOND", DefaultMinBytesPerSecond, 0, 1<<30)),
		MaxRetries:        int(r.Int("SOURCE_MAX_RETRIES", 4, -1, 20)),
		RequestsPerSecond: r.Float("SOURCE_RATE_LIMIT", 5, 0.01, 10000),
		MaxResponseBytes:  r.Int("SOURCE_MAX_RESPONSE_BYTES", 1<<30, 1<<10, 1<<40),
		RetryBudget:       r.Duration("SOURCE_RETRY_BUDGET", 0),
		MaxRecordBytes:    int(r.Int("SOURCE_MAX_RECORD_BYTES", DefaultMaxRecordBytes, 1<<10, 1<<30)),
		MaxShrink:         r.Float("SOURCE_MAX_SHRINK", DefaultMaxShrink, 0, 1),
	}
	cfg.APIKeySecret = r.String("SOURCE_API_KEY_SECRET", "")
	if cfg.APIKeySecret != "" && !strings.HasPrefix(cfg.APIKeySecret, "projects/") {
		r.Fail("SOURCE_API_KEY_SECRET", "must be a resource name projects/<p>/secrets/<s>/versions/<v>")
	}
	if cfg.APIKeySecret != "" && cfg.APIKey != "" {
		r.Fail("SOURCE_API_KEY", "set either SOURCE_API_KEY (local) or SOURCE_API_KEY_SECRET, not both")
	}
	if cfg.BaseURL != "" {
		if _, err := New(cfg, nil); err != nil {
			r.Fail("SOURCE_BASE_URL", "%v", err)
		}
	}
	return cfg
}

// Open returns a Client for cfg as deployed: when cfg.APIKeySecret names a
// Secret Manager version, the API key is read from it once, here.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.APIKeySecret != "" {
		key, err := secrets.Fetch(ctx, cfg.APIKeySecret)
		if err != nil {
			return nil, err
		}
		cfg.APIKey = key
	}
	return New(cfg, nil)
}

// Sentinel errors callers may branch on.
var (
	// ErrTooLarge reports a response body over Config.MaxResponseBytes.
	ErrTooLarge = errors.New("response exceeds the size limit")
	// ErrNotArray reports a list endpoint that did not return a JSON array.
	ErrNotArray = errors.New("response is not a JSON array")
)

// StatusError is a non-2xx response that was not (or no longer) retried.
type StatusError struct {
	URL        string
	StatusCode int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// Lister streams the elements of a storefront list endpoint, one attempt at
// a time, and starts an attempt over while its failures are transient. The
// functions that read the storefront (IngestBatch, PollCarts) take one;
// *Client is the implementation.
type Lister interface {
	Each(ctx context.Context, path string, fn func(raw json.RawMessage, oversized *OversizedError) error) error
	Retry(ctx context.Context, what string, attempt func(ctx context.Context) error) error
}

var _ Lister = (*Client)(nil)

// Client reads list endpoints of a storefront API.
type Client struct {
	cfg     Config
	base    *url.URL
	hc      *http.Client
	limiter *rate.Limiter
	sleep   func(context.Context, time.Duration) error
	now     func() time.Time
}

// New returns a Client for cfg. A nil transport uses a clone of
// http.DefaultTransport with cfg.Timeout applied to dialing and headers.
func New(cfg Config, transport http.RoundTripper) (*Client, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("source base URL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.APIKeyHeader == "" {
		cfg.APIKeyHeader = "X-API-Key"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MinBytesPerSecond == 0 {
		cfg.MinBytesPerSecond = DefaultMinBytesPerSecond
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 4
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 500 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.RequestsPerSecond <= 0 {
		cfg.RequestsPerSecond = 5
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 1 << 30
	}
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.RetryBudget <= 0 {
		cfg.RetryBudget = DefaultRetryBudget
	}
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext
		t.ResponseHeaderTimeout = cfg.Timeout
		t.TLSHandshakeTimeout = cfg.Timeout
		transport = t
	}
	return &Client{
		cfg:     cfg,
		base:    base,
		hc:      &http.Client{Transport: transport},
		limiter: rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), 1),
		sleep:   sleepCtx,
		now:     time.Now,
	}, nil
}

// ErrTransient marks a failure worth another attempt: a refused or reset
// connection, a timeout, HTTP 408, 429 or 5xx, or a body that ended early or
// stopped arriving. Retry starts a fetch over on it; nothing else is retried.
var ErrTransient = errors.New("transient")

// transientError wraps a failure worth retrying, with the delay the server
// asked for, if any.
type transientError struct {
	err        error
	retryAfter time.Duration
}

func (e *transientError) Error() string   { return e.err.Error() }
func (e *transientError) Unwrap() []error { return []error{e.err, ErrTransient} }

// Transient marks err as worth another attempt of Retry, waiting at least
// retryAfter (0 for the usual backoff): for adapters that judge an answer
// themselves, such as a GraphQL error document.
func Transient(err error, retryAfter time.Duration) error {
	return &transientError{err: err, retryAfter: retryAfter}
}

// Each makes one attempt at fetching path (for example "/products", or
// "/carts?startdate=…") and calls fn for every element of the JSON array it
// returns, in order, as it streams in: with the element's bytes (valid only
// during the call; their JSON syntax is left to the caller's decoder), or,
// for an element over Config.MaxRecordBytes, with nil and an
// *OversizedError. Any failure ends the attempt; a transient one wraps
// ErrTransient. fn may have seen part of the list by then, so run Each inside
// Retry, which starts the caller's whole attempt over.
//
// The request, headers and body, ends within Config.RequestTimeout and
// within the fetch's Config.RetryBudget; its body must keep arriving (see
// Config.Timeout and Config.MinBytesPerSecond). A request that breaks one of
// these bounds fails with an error wrapping ErrStalled that names the
// request, how much arrived in how long, and the setting to change.
func (c *Client) Each(ctx context.Context, path string, fn func(raw json.RawMessage, oversized *OversizedError) error) error {
	ref, err := url.Parse(path)
	if err != nil {
		return fmt.Errorf("source path %q: %w", path, err)
	}
	full := c.base.JoinPath(ref.Path)
	full.RawQuery = ref.RawQuery
	u := full.String()

	parent := ctx
	ctx, cancel, done, err := c.begin(ctx, "GET "+u)
	if err != nil {
		return err
	}
	defer done()
	req, err := c.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, body, err := c.send(parent, ctx, cancel, req, "GET "+u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	defer body.stop()
	if err := statusError(resp, u); err != nil {
		return err
	}

	sp := newSplitter(&limitedReader{r: body, left: c.cfg.MaxResponseBytes}, c.cfg.MaxRecordBytes)
	for {
		el, err := sp.next()
		var big *OversizedError
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &big):
			if err := fn(nil, big); err != nil {
				return err
			}
			continue
		case err != nil:
			return c.streamError(parent, ctx, "GET "+u, body, err)
		}
		if err := fn(el, nil); err != nil {
			return err
		}
	}
}

// streamError describes a failure while the body of req (method and URL)
// streamed, and marks it transient when another attempt may succeed: the
// body ended early, stalled, arrived too slowly or late, or the connection
// failed. A failure of the caller's context (parent) is not.
func (c *Client) streamError(parent, ctx context.Context, req string, body *meter, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("%s: %w", req, context.Cause(parent))
	}
	if limit := describeLimit(ctx, req, body); limit != nil {
		return &transientError{err: limit}
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		err = cause // the idle timer's
	}
	err = fmt.Errorf("%s: %w", req, describeStreamError(err))
	if streamTransient(err) {
		return &transientError{err: err}
	}
	return err
}

// describeStreamError keeps the size-limit sentinel and makes truncation plain.
func describeStreamError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("response body ended early: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// streamTransient reports whether a failure while the body streamed is worth
// another attempt: the body ended early, stalled, or the connection failed.
func streamTransient(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrStalled) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// Retry runs attempt until it succeeds or fails with an error that does not
// wrap ErrTransient. Before each new attempt it waits with exponential
// backoff and full jitter (at least what Retry-After asked, up to
// BackoffMax), so attempt must start from nothing each time: it discards
// whatever the previous attempt built. Attempts stop after MaxRetries
// retries, or when the next one would start past RetryBudget; the error then
// says how many were made. what names the fetch in that error and the logs.
// Every request an attempt makes through Each ends by the time the budget is
// spent, so no fetch outlasts RetryBudget by more than the caller's own work.
func (c *Client) Retry(ctx context.Context, what string, attempt func(ctx context.Context) error) error {
	start := c.now()
	actx := context.WithValue(ctx, fetchKey{}, fetchDeadline{at: start.Add(c.cfg.RetryBudget), budget: c.cfg.RetryBudget})
	for n := 1; ; n++ {
		err := attempt(actx)
		if err == nil {
			return nil
		}
		var te *transientError
		if !errors.As(err, &te) || ctx.Err() != nil {
			if n > 1 {
				return fmt.Errorf("%s: after %d attempts: %w", what, n, err)
			}
			return err
		}
		wait := c.backoff(n - 1)
		if te.retryAfter > wait {
			wait = min(te.retryAfter, c.cfg.BackoffMax)
		}
		elapsed := c.now().Sub(start)
		if c.cfg.MaxRetries < 0 || n > c.cfg.MaxRetries || elapsed+wait >= c.cfg.RetryBudget {
			return fmt.Errorf("%s: gave up after %s in %s: %w", what, attempts(n), elapsed.Round(time.Millisecond), err)
		}
		logging.FromContext(ctx).WarnContext(ctx, "source failed, starting the fetch over",
			"fetch", what, "attempt", n, "wait", wait.String(), "error", err)
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w (after %s; last error: %w)", what, err, attempts(n), te)
		}
	}
}

// attempts is "1 attempt", "2 attempts", ….
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// statusError is nil for a 2xx response; otherwise the response's body is
// drained and the error is a *StatusError for u, transient (waiting at least
// its Retry-After) for 408, 429 and 5xx.
func statusError(resp *http.Response, u string) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	err := &StatusError{URL: u, StatusCode: resp.StatusCode}
	if retryable(err) {
		return &transientError{err: err, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return err
}

// newRequest is a request to u with the headers every request carries: JSON
// accepted (and sent, with a body), the client's name, the API key.
func (c *Client) newRequest(ctx context.Context, method, u string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "shoplake-ingest/1")
	if c.cfg.APIKey != "" {
		req.Header.Set(c.cfg.APIKeyHeader, c.cfg.APIKey)
	}
	return req, nil
}

// retryable reports whether a status is worth another attempt: 408, 429 and
// 5xx. (A failure of the transport is judged by send.)
func retryable(se *StatusError) bool {
	return se.StatusCode == http.StatusTooManyRequests || se.StatusCode == http.StatusRequestTimeout || se.StatusCode >= 500
}

// backoff returns a full-jitter exponential delay for the given attempt.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.cfg.BackoffBase << min(attempt, 20)
	if ceiling <= 0 || ceiling > c.cfg.BackoffMax {
		ceiling = c.cfg.BackoffMax
	}
	return ceiling/2 + rand.N(ceiling/2+1)
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// limitedReader fails with ErrTooLarge past its limit instead of truncating.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("%w", ErrTooLarge)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
