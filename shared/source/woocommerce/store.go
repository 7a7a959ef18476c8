// Package woocommerce reads a WooCommerce store through its REST API v3
// (/wp-json/wc/v3/products, /customers, /orders) as canonical records: a
// source.Store. Listings go page by page, 100 at a time (the API's most),
// ordered by id, so a record added while a listing is read lands at its end
// rather than shifting the pages; a record removed while it is read would
// shift them, so a fall of X-WP-Total between pages ends the listing as a
// transient failure, for the caller to start over. Each page is retried on
// its own (429 and 503 ridden out with their Retry-After) within the
// request ceiling of Config.HTTP.RequestsPerSecond, since many stores sit on
// shared hosting that falls over before it says 429.
//
// Credentials (a consumer key and secret) go as HTTP Basic over HTTPS, or
// as query parameters for servers that strip the Authorization header
// (QueryAuth; errors never show them); never over plain HTTP except to a
// loopback address. Times are the *_gmt fields, in UTC; money is exact,
// including the line price WooCommerce sends as a JSON number (its text is
// read, never a float). An order's customer_id 0 is a guest; status trash
// is a deletion.
package woocommerce

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/source"
)

// MaxPerPage is the most records the API returns in one page.
const MaxPerPage = 100

// Config configures a Store.
type Config struct {
	// BaseURL is the site, such as https://shop.example.com.
	BaseURL string
	// Store names the store in its records (source_store); default BaseURL.
	Store string
	// ConsumerKey and ConsumerSecret are the REST API credentials.
	ConsumerKey, ConsumerSecret string
	// CredentialsName says where the credentials came from (a Secret
	// Manager version or a variable), for errors; never the credentials.
	CredentialsName string
	// QueryAuth sends the credentials as the consumer_key and
	// consumer_secret query parameters instead of HTTP Basic.
	QueryAuth bool
	// PerPage is the page size (default and most, 100).
	PerPage int
	// HTTP bounds every request as shared/source does; its
	// RequestsPerSecond is the ceiling of requests a second (default 5).
	HTTP source.Config
}

// Store reads one WooCommerce store.
type Store struct {
	cfg  Config
	http *source.Client
}

var _ source.Store = (*Store)(nil)

// Errors callers may branch on.
var (
	// ErrRefused reports credentials the store refused (HTTP 401 or 403).
	ErrRefused = errors.New("woocommerce refused the credentials")
	// ErrNotJSON reports an answer that is not the API's JSON, such as a
	// WordPress error page sent with status 200.
	ErrNotJSON = errors.New("woocommerce answered something other than JSON")
	// ErrChanged reports a listing that lost records while it was read: it
	// is transient, and the caller starts the listing over.
	ErrChanged = errors.New("the listing changed while it was read")
)

// New returns a Store for cfg. Credentials over plain HTTP are refused
// unless the host is a loopback address.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("woocommerce base URL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("woocommerce base URL %s: the credentials would cross the network in the clear; use https (plain http is allowed to a loopback address only)", cfg.BaseURL)
	}
	if cfg.ConsumerKey == "" || cfg.ConsumerSecret == "" {
		return nil, fmt.Errorf("woocommerce consumer key or secret from %s is empty", cfg.CredentialsName)
	}
	if cfg.PerPage <= 0 || cfg.PerPage > MaxPerPage {
		cfg.PerPage = MaxPerPage
	}
	h := cfg.HTTP
	h.BaseURL = cfg.BaseURL
	h.SecretParams = append(h.SecretParams, "consumer_key", "consumer_secret")
	if !cfg.QueryAuth {
		h.APIKeyHeader = "Authorization"
		h.APIKey = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.ConsumerKey+":"+cfg.ConsumerSecret))
	}
	hc, err := source.New(h, nil)
	if err != nil {
		return nil, fmt.Errorf("woocommerce: %w", err)
	}
	return &Store{cfg: cfg, http: hc}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Origin names the store.
func (s *Store) Origin() model.Origin {
	return model.Origin{Kind: "woocommerce", Store: cmp.Or(s.cfg.Store, s.cfg.BaseURL)}
}

// list reads every record of endpoint with the query q, page by page in id
// order, and calls fn with each; records listed again (a record inserted
// before the current page moves the later ones) are skipped by id.
func (s *Store) list(ctx context.Context, endpoint string, q url.Values, fn func(jsontext.Value) error) error {
	q.Set("per_page", strconv.Itoa(s.cfg.PerPage))
	q.Set("orderby", "id")
	q.Set("order", "asc")
	if s.cfg.QueryAuth {
		q.Set("consumer_key", s.cfg.ConsumerKey)
		q.Set("consumer_secret", s.cfg.ConsumerSecret)
	}
	lastID := int64(0)
	return source.Paged(ctx, func(ctx context.Context, n int, prev fetched) (fetched, bool, error) {
		pq := cloneValues(q)
		pq.Set("page", strconv.Itoa(n))
		f := fetched{firstTotal: prev.firstTotal}
		err := s.http.Retry(ctx, fmt.Sprintf("woocommerce %s page %d", endpoint, n), func(ctx context.Context) error {
			var err error
			f.items, f.total, f.pages, err = s.page(ctx, endpoint, pq)
			return err
		})
		if err != nil {
			return f, false, err
		}
		if n == 1 {
			f.firstTotal = f.total
		}
		if f.total < f.firstTotal {
			return f, false, source.Transient(fmt.Errorf("woocommerce %s: %w: X-WP-Total fell from %d to %d by page %d; starting over", endpoint, ErrChanged, f.firstTotal, f.total, n), 0)
		}
		return f, n < f.pages && len(f.items) > 0, nil
	}, func(_ int, f fetched) error {
		for _, raw := range f.items {
			if id := recordID(raw); id != 0 {
				if id <= lastID {
					continue // listed again after an insertion before it
				}
				lastID = id
			}
			if err := fn(raw); err != nil {
				return err
			}
		}
		return nil
	})
}

// recordID is a record's id: read from its start where WooCommerce puts it
// ({"id":123,…}), else decoded; 0 when it has none.
func recordID(raw jsontext.Value) int64 {
	if rest, ok := bytes.CutPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte(`{"id":`)); ok {
		end := bytes.IndexAny(rest, ",}")
		if id, err := strconv.ParseInt(string(rest[:max(end, 0)]), 10, 64); end > 0 && err == nil {
			return id
		}
	}
	var head struct {
		ID int64 `json:"id"`
	}
	_ = source.Decode(raw, &head)
	return head.ID
}

// fetched is one page read, with the X-WP-Total of the listing's first page.
type fetched struct {
	items                    []jsontext.Value
	total, pages, firstTotal int
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// page makes one attempt at one page.
func (s *Store) page(ctx context.Context, endpoint string, q url.Values) (items []jsontext.Value, total, pages int, err error) {
	resp, err := s.http.Get(ctx, "/wp-json/wc/v3/"+endpoint+"?"+q.Encode())
	if err != nil {
		return nil, 0, 0, err
	}
	st := resp.StatusCode
	if st == http.StatusUnauthorized || st == http.StatusForbidden {
		var doc struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(resp.Body, &doc)
		return nil, 0, 0, fmt.Errorf("%w (HTTP %d, %s) read from %s: check the consumer key and secret, and their read permission",
			ErrRefused, st, doc.Code, s.cfg.CredentialsName)
	}
	if wait, ok := resp.Retryable(); ok {
		return nil, 0, 0, source.Transient(fmt.Errorf("woocommerce %s: HTTP %d", endpoint, st), wait)
	}
	if st < 200 || st > 299 {
		return nil, 0, 0, fmt.Errorf("woocommerce %s: HTTP %d: %.200s", endpoint, st, resp.Body)
	}
	body := bytes.TrimSpace(resp.Body)
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") || len(body) == 0 || body[0] != '[' {
		return nil, 0, 0, fmt.Errorf("woocommerce %s: %w (Content-Type %q, starting %.60q): a WordPress error page, or a caching plugin in the way",
			endpoint, ErrNotJSON, resp.Header.Get("Content-Type"), body)
	}
	if err := source.Decode(body, &items); err != nil {
		return nil, 0, 0, fmt.Errorf("woocommerce %s: %w: %v", endpoint, ErrNotJSON, err)
	}
	total, _ = strconv.Atoi(resp.Header.Get("X-WP-Total"))
	pages, _ = strconv.Atoi(resp.Header.Get("X-WP-TotalPages"))
	return items, total, pages, nil
}

// since is the incremental filter: modified_after in GMT.
func since(q url.Values, t time.Time) url.Values {
	if !t.IsZero() {
		q.Set("modified_after", t.UTC().Format("2006-01-02T15:04:05"))
		q.Set("dates_are_gmt", "true")
	}
	return q
}

// gmt is a *_gmt time: no zone, UTC.
type gmt struct{ time.Time }

// UnmarshalJSON reads the time from its JSON string (empty or null: none).
func (g *gmt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || bytes.IndexByte(b, '\\') >= 0 {
		return fmt.Errorf("a *_gmt time must be a plain JSON string, not %.40s", b)
	}
	s := b[1 : len(b)-1]
	if len(s) == 0 {
		return nil
	}
	t, err := time.Parse("2006-01-02T15:04:05", string(s))
	if err != nil {
		return err
	}
	g.Time = t.UTC()
	return nil
}

// head is what every record has. The fields WooCommerce sends that a record
// does not name are its attributes (Unknown), but for the local-time twins
// of the *_gmt times, read here for nothing.
type head struct {
	ID            int64          `json:"id"`
	Status        string         `json:"status"`
	Created       gmt            `json:"date_created_gmt"`
	Modified      gmt            `json:"date_modified_gmt"`
	LocalCreated  jsontext.Value `json:"date_created"`
	LocalModified jsontext.Value `json:"date_modified"`
	Unknown       jsontext.Value `json:",unknown"`
}

// record is what h says of every record; attributes says whether to keep
// the fields not named as its attributes.
func (s *Store) record(h *head, attributes bool) model.Record {
	r := model.Record{Origin: s.Origin(), SourceID: strconv.FormatInt(h.ID, 10), CreatedAt: h.Created.Time, UpdatedAt: h.Modified.Time,
		Deleted: h.Status == "trash"}
	if attributes {
		r.Attributes = source.Attributes(h.Unknown)
	}
	return r
}

func invalid(endpoint string, id int64, err error) error {
	return fmt.Errorf("%w: woocommerce %s %d: %v", model.ErrInvalid, endpoint, id, err)
}

// Products lists the store's products modified after since (all when zero),
// the ones in the trash included, as deletions; each simple product has one
// variant, priced as the product.
func (s *Store) Products(ctx context.Context, after time.Time, fn func(*model.CanonicalProduct, error) error) error {
	return s.listWithTrash(ctx, "products", since(url.Values{}, after), func(raw jsontext.Value) error {
		var p struct {
			head
			Name       string       `json:"name"`
			SKU        string       `json:"sku"`
			Price      money.Amount `json:"price"`
			Categories []struct {
				Name string `json:"name"`
			} `json:"categories"`
		}
		if err := source.Decode(raw, &p); err != nil || p.ID <= 0 {
			return fn(nil, invalid("product", p.ID, cmp.Or(err, errNoID)))
		}
		rec := s.record(&p.head, true)
		cp := &model.CanonicalProduct{Record: rec, Title: p.Name,
			Variants: []model.Variant{{SourceID: rec.SourceID, SKU: p.SKU, Price: p.Price}}}
		if len(p.Categories) > 0 {
			cp.Category = p.Categories[0].Name
		}
		return fn(cp, nil)
	})
}

// errNoID reports a record without a positive id.
var errNoID = errors.New("no id")

// Customers lists every customer: the API has no filter by modification, so
// since is ignored and the caller diffs the whole listing.
func (s *Store) Customers(ctx context.Context, _ time.Time, fn func(*model.CanonicalCustomer, error) error) error {
	return s.list(ctx, "customers", url.Values{}, func(raw jsontext.Value) error {
		var c struct {
			head
			Email   string `json:"email"`
			Billing struct {
				City     string `json:"city"`
				Postcode string `json:"postcode"`
				Country  string `json:"country"`
			} `json:"billing"`
		}
		if err := source.Decode(raw, &c); err != nil || c.ID <= 0 {
			return fn(nil, invalid("customer", c.ID, cmp.Or(err, errNoID)))
		}
		// What else WooCommerce says of a person is not kept.
		rec := s.record(&c.head, false)
		return fn(&model.CanonicalCustomer{Record: rec, Email: c.Email, City: c.Billing.City, PostalCode: c.Billing.Postcode, Country: c.Billing.Country}, nil)
	})
}

// wooOrder is an order as the API sends it. What it says of the person
// (addresses, note, IP address, browser) is read for nothing: not an
// attribute.
type wooOrder struct {
	head
	Currency   string       `json:"currency"`
	CustomerID int64        `json:"customer_id"`
	Total      money.Amount `json:"total"`
	Lines      []struct {
		ID          int64        `json:"id"`
		ProductID   int64        `json:"product_id"`
		VariationID int64        `json:"variation_id"`
		Quantity    int64        `json:"quantity"`
		SKU         string       `json:"sku"`
		Price       money.Amount `json:"price"`
	} `json:"line_items"`
	Billing   jsontext.Value `json:"billing"`
	Shipping  jsontext.Value `json:"shipping"`
	Note      jsontext.Value `json:"customer_note"`
	IP        jsontext.Value `json:"customer_ip_address"`
	UserAgent jsontext.Value `json:"customer_user_agent"`
}

// Orders lists the orders modified after since (all when zero), the ones in
// the trash included, as deletions.
func (s *Store) Orders(ctx context.Context, after time.Time, fn func(*model.CanonicalOrder, error) error) error {
	return s.listWithTrash(ctx, "orders", since(url.Values{}, after), func(raw jsontext.Value) error {
		var o wooOrder
		if err := source.Decode(raw, &o); err != nil || o.ID <= 0 {
			return fn(nil, invalid("order", o.ID, cmp.Or(err, errNoID)))
		}
		co := &model.CanonicalOrder{Record: s.record(&o.head, true), Kind: model.KindOrder, Status: o.Status, Currency: o.Currency, Total: &o.Total}
		if o.CustomerID != 0 { // 0 is a guest
			co.CustomerID = strconv.FormatInt(o.CustomerID, 10)
		}
		co.Lines = make([]model.Line, 0, len(o.Lines))
		for _, l := range o.Lines {
			line := model.Line{SourceID: strconv.FormatInt(l.ID, 10), ProductID: strconv.FormatInt(l.ProductID, 10), SKU: l.SKU, Quantity: l.Quantity}
			line.VariantID = line.ProductID
			if l.VariationID != 0 {
				line.VariantID = strconv.FormatInt(l.VariationID, 10)
			}
			co.Lines = append(co.Lines, line.Priced(l.Price))
		}
		return fn(co, nil)
	})
}

// listWithTrash lists the records of endpoint q asks for, then those of
// them in the trash, which a listing without a status leaves out.
func (s *Store) listWithTrash(ctx context.Context, endpoint string, q url.Values, fn func(jsontext.Value) error) error {
	if err := s.list(ctx, endpoint, q, fn); err != nil {
		return err
	}
	trash := cloneValues(q)
	trash.Set("status", "trash")
	return s.list(ctx, endpoint, trash, fn)
}

// OrderIDs lists the id of every order, trashed ones included, for the
// reconcile that finds orders deleted for good.
func (s *Store) OrderIDs(ctx context.Context, fn func(id string) error) error {
	return s.ids(ctx, "orders", fn)
}

// ProductIDs lists the id of every product, trashed ones included, for the
// reconcile that finds products deleted for good.
func (s *Store) ProductIDs(ctx context.Context, fn func(id string) error) error {
	return s.ids(ctx, "products", fn)
}

func (s *Store) ids(ctx context.Context, endpoint string, fn func(id string) error) error {
	return s.listWithTrash(ctx, endpoint, url.Values{"_fields": {"id"}}, func(raw jsontext.Value) error {
		if id := recordID(raw); id > 0 {
			return fn(strconv.FormatInt(id, 10))
		}
		return fmt.Errorf("woocommerce %s: an id listing without an id: %.80s", endpoint, raw)
	})
}
