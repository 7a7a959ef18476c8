// Package connect opens the storefront a deployment reads: the adapter of
// the kind SOURCE_KIND names (fakestore, shopify or woocommerce), with its
// credentials read once, at start-up, from Secret Manager
// (SOURCE_API_KEY_SECRET) or, locally, from SOURCE_API_KEY. Credentials are
// never in an error, a log line or anything written: errors name where they
// came from, not what they are.
package connect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/secrets"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/source/fakestore"
	"github.com/shoplake/shoplake/shared/source/shopify"
	"github.com/shoplake/shoplake/shared/source/woocommerce"
)

// The kinds of store (SOURCE_KIND).
const (
	FakeStore   = "fakestore"
	Shopify     = "shopify"
	WooCommerce = "woocommerce"
)

// Kinds are the values SOURCE_KIND takes.
var Kinds = []string{FakeStore, Shopify, WooCommerce}

// Canonical reports whether a store of kind is read as canonical records
// (Shopify, WooCommerce: its orders snapshotted daily and polled as order
// events) rather than as FakeStore's raw listings and carts. An empty kind
// is FakeStore, SOURCE_KIND's default.
func Canonical(kind string) bool { return kind != "" && kind != FakeStore }

// DefaultShopifyAPIVersion is the Admin API version the Shopify adapter is
// written and tested against (SHOPIFY_API_VERSION).
const DefaultShopifyAPIVersion = "2025-07"

// Config says which store to read and how.
type Config struct {
	// Kind is the adapter (SOURCE_KIND, default fakestore).
	Kind string
	// HTTP bounds every request (the SOURCE_* variables); its APIKey or
	// APIKeySecret carries the credentials: a Shopify Admin API access
	// token, or a WooCommerce "consumer_key:consumer_secret".
	HTTP source.Config
	// Store names the store in its records (source_store): SOURCE_STORE,
	// default the base URL. A store reached at another address keeps its
	// name, and so its snapshots.
	Store string
	// Currency is the ISO code of a FakeStore's carts (SOURCE_CURRENCY,
	// default USD); Shopify and WooCommerce say their own.
	Currency string
	// ShopifyAPIVersion is the pinned Admin API version
	// (SHOPIFY_API_VERSION).
	ShopifyAPIVersion string
	// ShopifyBulkPoll is how often a bulk export's status is asked
	// (SHOPIFY_BULK_POLL, default shopify.DefaultBulkPoll).
	ShopifyBulkPoll time.Duration
	// WooQueryAuth sends WooCommerce credentials as query parameters, for
	// servers that strip the Authorization header (WOOCOMMERCE_QUERY_AUTH).
	WooQueryAuth bool
}

// ReadConfig reads SOURCE_KIND and the settings of its kind.
func ReadConfig(r *config.Reader) Config {
	cfg := Config{
		Kind:              r.OneOf("SOURCE_KIND", FakeStore, Kinds...),
		HTTP:              source.ReadConfig(r),
		Store:             r.String("SOURCE_STORE", ""),
		Currency:          strings.ToUpper(r.String("SOURCE_CURRENCY", fakestore.DefaultCurrency)),
		ShopifyAPIVersion: r.String("SHOPIFY_API_VERSION", DefaultShopifyAPIVersion),
		ShopifyBulkPoll:   r.Duration("SHOPIFY_BULK_POLL", shopify.DefaultBulkPoll),
		WooQueryAuth:      r.OneOf("WOOCOMMERCE_QUERY_AUTH", "false", "true", "false") == "true",
	}
	if cfg.Kind == Shopify && r.String("SOURCE_RATE_LIMIT", "") == "" {
		// Shopify's cost bucket paces the requests (shopify.Client), not a
		// rate of requests a second.
		cfg.HTTP.RequestsPerSecond = 0
	}
	if len(cfg.Currency) != 3 {
		r.Fail("SOURCE_CURRENCY", "must be an ISO 4217 code such as USD, got %q", cfg.Currency)
	}
	if cfg.Kind != FakeStore && cfg.HTTP.APIKey == "" && cfg.HTTP.APIKeySecret == "" {
		r.Fail("SOURCE_API_KEY_SECRET", "is required for SOURCE_KIND=%s: the secret holding the store's credentials (%s)", cfg.Kind, credentialsForm(cfg.Kind))
	}
	if cfg.Kind == Shopify {
		if err := shopify.CheckAPIVersion(cfg.ShopifyAPIVersion); err != nil {
			r.Fail("SHOPIFY_API_VERSION", "%v", err)
		}
	}
	return cfg
}

// credentialsForm says what a kind's secret holds.
func credentialsForm(kind string) string {
	if kind == WooCommerce {
		return "consumer_key:consumer_secret of a read-only REST API key"
	}
	return "the custom app's Admin API access token"
}

// Source is an opened store.
type Source struct {
	// Kind is the adapter's kind.
	Kind string
	// Store lists the store as canonical records.
	Store source.Store
	// Client is the HTTP client under FakeStore's adapter, whose raw
	// listings feed today's raw tables. For the other kinds it makes no
	// request: its Retry runs listings again within SOURCE_RETRY_BUDGET.
	Client *source.Client
}

// ErrCredentials marks credentials that are missing or malformed.
var ErrCredentials = errors.New("store credentials")

// Open opens the store cfg names, reading its credentials once.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	secret, from := cfg.HTTP.APIKey, "SOURCE_API_KEY"
	if cfg.HTTP.APIKeySecret != "" {
		v, err := secrets.Fetch(ctx, cfg.HTTP.APIKeySecret)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
		}
		secret, from = v, "secret "+cfg.HTTP.APIKeySecret
	}
	return New(cfg, secret, from)
}

// New opens the store cfg names with its credentials already read: secret
// is their value, from says where they came from (for errors).
func New(cfg Config, secret, from string) (*Source, error) {
	h := cfg.HTTP
	h.APIKeySecret = ""
	if cfg.Kind == FakeStore {
		h.APIKey = secret
		c, err := source.New(h, nil)
		if err != nil {
			return nil, err
		}
		return &Source{Kind: FakeStore, Store: fakestore.New(fakestore.Config{Store: cmp.Or(cfg.Store, h.BaseURL), Currency: cfg.Currency}, c), Client: c}, nil
	}
	// The retry client never sends a request: it holds no credentials.
	h.APIKey = ""
	retry, err := source.New(h, nil)
	if err != nil {
		return nil, err
	}
	out := &Source{Kind: cfg.Kind, Client: retry}
	switch cfg.Kind {
	case Shopify:
		out.Store, err = shopify.New(shopify.Config{BaseURL: h.BaseURL, Store: cfg.Store, APIVersion: cfg.ShopifyAPIVersion,
			AccessToken: secret, TokenName: from, HTTP: h, BulkPoll: cfg.ShopifyBulkPoll})
	case WooCommerce:
		key, sec, ok := strings.Cut(secret, ":")
		if !ok || key == "" || sec == "" {
			return nil, fmt.Errorf("%w: %s must hold consumer_key:consumer_secret (a WooCommerce REST API key), not something else", ErrCredentials, from)
		}
		out.Store, err = woocommerce.New(woocommerce.Config{BaseURL: h.BaseURL, Store: cfg.Store, ConsumerKey: key, ConsumerSecret: sec,
			CredentialsName: from, QueryAuth: cfg.WooQueryAuth, HTTP: h})
	default:
		return nil, fmt.Errorf("SOURCE_KIND %q is not one of %s", cfg.Kind, strings.Join(Kinds, ", "))
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Refused reports whether err is a store refusing the credentials: the same
// credentials will be refused by every other listing of the run too.
func Refused(err error) bool {
	return errors.Is(err, shopify.ErrUnauthorized) || errors.Is(err, woocommerce.ErrRefused) || errors.Is(err, ErrCredentials)
}
