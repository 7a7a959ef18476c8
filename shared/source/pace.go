package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of the settings that bound how long a source may take.
const (
	// DefaultRequestTimeout is Config.RequestTimeout's default
	// (SOURCE_REQUEST_TIMEOUT).
	DefaultRequestTimeout = 2 * time.Minute
	// DefaultMinBytesPerSecond is Config.MinBytesPerSecond's default
	// (SOURCE_MIN_BYTES_PER_SECOND).
	DefaultMinBytesPerSecond = 1024
	// DefaultRetryBudget is Config.RetryBudget's default (SOURCE_RETRY_BUDGET).
	DefaultRetryBudget = 5 * time.Minute
)

// ErrStalled reports a response that took too long: no response headers
// within SOURCE_TIMEOUT, a body that stopped arriving for SOURCE_TIMEOUT or
// arrived slower than SOURCE_MIN_BYTES_PER_SECOND, or a request not complete
// within SOURCE_REQUEST_TIMEOUT or what was left of SOURCE_RETRY_BUDGET.
// It is transient: Retry starts the fetch over while the budget lasts.
var ErrStalled = errors.New("source too slow")

// minBytesPerSecond maps SOURCE_MIN_BYTES_PER_SECOND to
// Config.MinBytesPerSecond, where 0 takes the default: the variable's 0 turns
// the check off.
func minBytesPerSecond(v int64) int64 {
	if v == 0 {
		return -1
	}
	return v
}

// fetchKey carries a fetch's deadline from Retry to the requests of its
// attempts.
type fetchKey struct{}

// fetchDeadline is when the fetch Retry runs must end (its start plus
// Config.RetryBudget), on the Client's clock.
type fetchDeadline struct {
	at     time.Time
	budget time.Duration
}

// requestLimit is the cause that cancels one request at its deadline: the
// request's own timeout, or what was left of the fetch's retry budget.
type requestLimit struct {
	setting string // SOURCE_REQUEST_TIMEOUT or SOURCE_RETRY_BUDGET
	value   time.Duration
	left    time.Duration // the time the request was given
}

func (l *requestLimit) Error() string { return "request deadline" }

// limitRequest returns ctx bounded by the request timeout, or by the end of
// the fetch it belongs to when that comes first.
func (c *Client) limitRequest(ctx context.Context) (context.Context, context.CancelFunc) {
	limit := &requestLimit{setting: "SOURCE_REQUEST_TIMEOUT", value: c.cfg.RequestTimeout, left: c.cfg.RequestTimeout}
	if fd, ok := ctx.Value(fetchKey{}).(fetchDeadline); ok {
		if left := fd.at.Sub(c.now()); left < limit.left {
			limit = &requestLimit{setting: "SOURCE_RETRY_BUDGET", value: fd.budget, left: max(left, 0)}
		}
	}
	return context.WithTimeoutCause(ctx, limit.left, limit)
}

// begin starts one request: it waits for the rate limiter, then bounds ctx
// by the request's deadline (limitRequest) and lets the body's idle timer
// cancel it (cancel, with a cause). Call done when the request is over.
// shown names the request in the error of a wait cut short.
func (c *Client) begin(ctx context.Context, shown string) (_ context.Context, cancel context.CancelCauseFunc, done func(), err error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", shown, err)
	}
	ctx, cancelDeadline := c.limitRequest(ctx)
	ctx, cancel = context.WithCancelCause(ctx)
	return ctx, cancel, func() { cancel(nil); cancelDeadline() }, nil
}

// send sends req, made on ctx from begin, and returns the response with its
// body metered: the idle timer cancels ctx through cancel. A failure to get
// an answer names the request (shown, never the URL the transport repeats,
// which may carry credentials) and, for headers that never came,
// SOURCE_TIMEOUT; it is transient unless the caller's own context (parent)
// ended.
func (c *Client) send(parent, ctx context.Context, cancel context.CancelCauseFunc, req *http.Request, shown string) (*http.Response, *meter, error) {
	resp, err := c.hc.Do(req)
	if err == nil {
		return resp, newMeter(resp.Body, c.cfg.Timeout, c.cfg.MinBytesPerSecond, func(m *meter) { cancel(m.idleError()) }), nil
	}
	if limit := describeLimit(ctx, shown, nil); limit != nil && parent.Err() == nil {
		return nil, nil, &transientError{err: limit}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
		err = fmt.Errorf("%w: no response within SOURCE_TIMEOUT (%s): %w", ErrStalled, c.cfg.Timeout, err)
	}
	err = fmt.Errorf("%s: %w", shown, err)
	if parent.Err() == nil {
		return nil, nil, &transientError{err: err}
	}
	return nil, nil, err
}

// describeLimit turns a request cancelled at its deadline into an error that
// names the request (method and URL), how much of the body arrived in how long, and the
// setting to change. It returns nil when ctx did not end at its deadline.
func describeLimit(ctx context.Context, u string, m *meter) error {
	var limit *requestLimit
	if ctx.Err() == nil || !errors.As(context.Cause(ctx), &limit) {
		return nil
	}
	got := "no response headers"
	if m != nil {
		got = m.progress()
	}
	if limit.setting == "SOURCE_RETRY_BUDGET" {
		return fmt.Errorf("%s: %w: not complete in the %s left of %s (%s): %s; raise SOURCE_RETRY_BUDGET",
			u, ErrStalled, limit.left.Round(time.Millisecond), limit.setting, limit.value, got)
	}
	return fmt.Errorf("%s: %w: not complete within %s (%s): %s; raise SOURCE_REQUEST_TIMEOUT",
		u, ErrStalled, limit.setting, limit.value, got)
}

// meter reads a response body and watches its pace. While a Read waits for
// data, a timer cancels the request once nothing has arrived for idle; and
// over every stretch of idle spent waiting, the bytes that arrived must reach
// floor a second, or the body counts as stalled. Only time spent waiting for
// the source counts, not time the caller spends on what it read.
type meter struct {
	r     io.Reader
	idle  time.Duration
	floor int64
	timer *time.Timer
	start time.Time
	total atomic.Int64

	waited      time.Duration // in the current stretch
	stretchSize int64         // bytes that arrived in it
}

// newMeter starts watching body; onIdle is called (once, from the timer's
// goroutine) when a Read has waited idle without data.
func newMeter(body io.Reader, idle time.Duration, floor int64, onIdle func(m *meter)) *meter {
	m := &meter{r: body, idle: idle, floor: floor, start: time.Now()}
	m.timer = time.AfterFunc(time.Hour, func() { onIdle(m) })
	m.timer.Stop()
	return m
}

func (m *meter) Read(p []byte) (int, error) {
	m.timer.Reset(m.idle)
	began := time.Now()
	n, err := m.r.Read(p)
	m.timer.Stop()
	m.total.Add(int64(n))
	if m.floor <= 0 {
		return n, err
	}
	m.waited += time.Since(began)
	m.stretchSize += int64(n)
	if m.waited >= m.idle {
		if rate := float64(m.stretchSize) / m.waited.Seconds(); rate < float64(m.floor) {
			return n, fmt.Errorf("%w: the body arrived at %.1f bytes/s over %s of waiting (%s in all), below SOURCE_MIN_BYTES_PER_SECOND (%d): lower it if the source is always this slow",
				ErrStalled, rate, m.waited.Round(time.Millisecond), m.progress(), m.floor)
		}
		m.waited, m.stretchSize = 0, 0
	}
	return n, err
}

// stop releases the idle timer.
func (m *meter) stop() { m.timer.Stop() }

// progress says how much of the body arrived in how long.
func (m *meter) progress() string {
	return fmt.Sprintf("%d bytes of the body in %s", m.total.Load(), time.Since(m.start).Round(time.Millisecond))
}

// idleError is the cause of a request cancelled by the idle timer.
func (m *meter) idleError() error {
	return fmt.Errorf("%w: no data for %s (SOURCE_TIMEOUT) after %s", ErrStalled, m.idle, m.progress())
}

// Response is a whole response read by Post.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Retryable reports whether the response's status is worth another attempt
// (408, 429 or 5xx, as for Each), and how long its Retry-After asks to wait.
func (r *Response) Retryable() (time.Duration, bool) {
	if !retryable(&StatusError{StatusCode: r.StatusCode}) {
		return 0, false
	}
	return parseRetryAfter(r.Header.Get("Retry-After"), time.Now()), true
}

// Post makes one attempt at POSTing a JSON body to path and reads the whole
// response, whatever its status (see Fetch).
func (c *Client) Post(ctx context.Context, path string, body []byte) (*Response, error) {
	return c.Fetch(ctx, http.MethodPost, path, body)
}

// Get makes one attempt at GETting path (with its query) and reads the whole
// response, whatever its status (see Fetch).
func (c *Client) Get(ctx context.Context, path string) (*Response, error) {
	return c.Fetch(ctx, http.MethodGet, path, nil)
}

// Fetch makes one attempt at a request to path (with its query; a JSON body
// when body is not nil) and reads the whole response, whatever its status,
// within the bounds Each keeps (and at most MaxResponseBytes). It is for
// APIs whose answers the caller must judge by more than the status (a
// GraphQL error document, the totals in headers), and for pages small
// enough to hold. A failure to get the whole response (the connection, a
// stall, a deadline) wraps ErrTransient, as in Each; run Fetch inside Retry.
// Errors show the URL with the query parameters named in
// Config.SecretParams redacted.
func (c *Client) Fetch(ctx context.Context, method, path string, body []byte) (*Response, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("source path %q: %w", redactPath(path, c.cfg.SecretParams), err)
	}
	full := c.base.JoinPath(ref.Path)
	full.RawQuery = ref.RawQuery
	u := full.String()
	shown := method + " " + c.redact(full)
	parent := ctx
	ctx, cancel, done, err := c.begin(ctx, shown)
	if err != nil {
		return nil, err
	}
	defer done()
	req, err := c.newRequest(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, errors.Unwrap(err))
	}
	resp, meter, err := c.send(parent, ctx, cancel, req, shown)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	defer meter.stop()
	b, err := io.ReadAll(&limitedReader{r: meter, left: c.cfg.MaxResponseBytes})
	if err != nil {
		return nil, c.streamError(parent, ctx, shown, meter, err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// redact is u as errors show it: the query parameters named in
// Config.SecretParams replaced by REDACTED.
func (c *Client) redact(u *url.URL) string {
	if len(c.cfg.SecretParams) == 0 || u.RawQuery == "" {
		return u.String()
	}
	v := u.Query()
	for _, name := range c.cfg.SecretParams {
		if v.Has(name) {
			v.Set(name, "REDACTED")
		}
	}
	out := *u
	out.RawQuery = v.Encode()
	return out.String()
}

// redactPath is redact for a path that did not parse: everything after the
// first '?' goes when any secret parameter is configured.
func redactPath(path string, secret []string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 && len(secret) > 0 {
		return path[:i] + "?REDACTED"
	}
	return path
}

// Download makes one attempt at GETting rawURL, an absolute http(s) URL on
// any host (a signed link to an export, say), and hands its body to read as
// it streams, within the bounds Each keeps; the API key is not sent, since
// the host is not the store's. A status other than 2xx is a *StatusError
// (transient for 408, 429 and 5xx); a failure while the body streams is
// transient as in Each, and read may have seen part of it, so run Download
// inside Retry.
func (c *Client) Download(ctx context.Context, rawURL string, read func(body io.Reader) error) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("download %.100q: not an absolute http(s) URL", rawURL)
	}
	shown := u.Scheme + "://" + u.Host + u.Path // signed links carry their credentials in the query
	parent := ctx
	ctx, cancel, done, err := c.begin(ctx, "GET "+shown)
	if err != nil {
		return err
	}
	defer done()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", shown, err)
	}
	req.Header.Set("User-Agent", "shoplake-ingest/1")
	resp, meter, err := c.send(parent, ctx, cancel, req, "GET "+shown)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	defer meter.stop()
	if err := statusError(resp, shown); err != nil {
		return err
	}
	body := &failedRead{r: &limitedReader{r: meter, left: c.cfg.MaxResponseBytes}}
	if err := read(body); err != nil {
		if body.err != nil { // the body failed, not the reader's judgement of it
			return c.streamError(parent, ctx, "GET "+shown, meter, body.err)
		}
		return err
	}
	return nil
}

// failedRead remembers the error of the body it reads, other than io.EOF.
type failedRead struct {
	r   io.Reader
	err error
}

func (f *failedRead) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		f.err = err
	}
	return n, err
}
