package stack

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/shoplake/shoplake/functions/local/internal/summary"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/source/connect"
)

// startSource serves the built-in API, or checks the external one.
func (st *Stack) startSource(ctx context.Context, sum *summary.Summary) (string, error) {
	cfg := st.cfg
	if connect.Canonical(cfg.SourceKind) {
		return st.startStore(sum)
	}
	if cfg.SourceBaseURL != "" {
		if err := preflight(ctx, cfg.SourceBaseURL, cfg.Env, cfg.Out); err != nil {
			return "", err
		}
		sum.Source = "external API " + cfg.SourceBaseURL
		return cfg.SourceBaseURL, nil
	}
	catalog, desc := storefront.Fixtures(), "built-in FakeStore snapshot (20 products, 10 users, 7 carts)"
	if cfg.Scale > 0 {
		catalog, desc = storefront.Synthetic(cfg.Scale), fmt.Sprintf("built-in synthetic catalogue (%d records per entity)", cfg.Scale)
		if cfg.Changing {
			catalog, desc = storefront.SyntheticChanging(cfg.Scale), desc+", carts changing between polls"
		}
	}
	st.api = storefront.NewServer(catalog)
	st.served = st.api.Served
	url, err := st.serveLocal(func(url string) (http.Handler, error) {
		if cfg.SourceFault == "" {
			return st.api, nil
		}
		src, err := sourceConfig(url, cfg.Env)
		if err != nil {
			return nil, err
		}
		return storefront.WithFault(st.api, cfg.SourceFault, 2*cmp.Or(src.Timeout, source.DefaultTimeout))
	})
	if err != nil {
		return "", err
	}
	if cfg.SourceFault != "" {
		desc += ", misbehaving: " + string(cfg.SourceFault)
	}
	sum.Source = desc
	if cfg.SourceFault != "" { // the built-in API ignores ?limit=1: only a misbehaving one is worth checking
		if err := preflight(ctx, url, cfg.Env, cfg.Out); err != nil {
			return "", err
		}
	}
	return url, nil
}

// startStore points the functions at a store of a kind other than FakeStore:
// the external one at SourceBaseURL (its credentials in SOURCE_API_KEY), or
// the kind's built-in stand-in.
func (st *Stack) startStore(sum *summary.Summary) (string, error) {
	cfg := st.cfg
	st.sourceEnv = map[string]string{"SOURCE_KIND": cfg.SourceKind}
	if cfg.SourceBaseURL != "" {
		sum.Source = cfg.SourceKind + " store " + cfg.SourceBaseURL
		return cfg.SourceBaseURL, nil
	}
	h, served, secret, desc, err := storeHandler(cfg.SourceKind, cfg.Scale, cfg.SourceFault)
	if err != nil {
		return "", err
	}
	url, err := st.serveLocal(func(string) (http.Handler, error) { return h, nil })
	if err != nil {
		return "", err
	}
	if cfg.SourceFault != "" {
		desc += ", misbehaving: " + string(cfg.SourceFault)
	}
	// The stand-in listens on another port each run: its records name it
	// by its kind, so that an unchanged store writes unchanged snapshots.
	st.served = served
	st.sourceEnv["SOURCE_API_KEY"], st.sourceEnv["SOURCE_STORE"] = secret, "built-in "+cfg.SourceKind+" stand-in"
	// The stand-in finishes a bulk export at once: ask after it often; and
	// it is no shared host to spare (the user's SOURCE_RATE_LIMIT wins).
	st.sourceEnv["SHOPIFY_BULK_POLL"], st.sourceEnv["SOURCE_RATE_LIMIT"] = "100ms", "1000"
	sum.Source = desc
	return url, nil
}

// preflight checks that the source answers before anything starts, with the
// SOURCE_* settings and retries the functions use, and says which of three
// things went wrong: unreachable, answering 5xx, or refusing the key.
// Its retries are reported on out, so that a failure stays one line on
// stderr.
func preflight(ctx context.Context, baseURL string, env config.Lookup, out io.Writer) error {
	ctx = logging.WithLogger(ctx, slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})))
	cfg, err := sourceConfig(baseURL, env)
	if err != nil {
		return err
	}
	client, err := source.New(cfg, nil)
	if err != nil {
		return err
	}
	err = client.Retry(ctx, "source check", func(ctx context.Context) error {
		return client.Each(ctx, "/products?limit=1", func(json.RawMessage, *source.OversizedError) error { return nil })
	})
	if err == nil {
		return nil
	}
	var status *source.StatusError
	switch {
	case errors.As(err, &status) && (status.StatusCode == http.StatusUnauthorized || status.StatusCode == http.StatusForbidden):
		return fmt.Errorf("source %s rejected the API key (HTTP %d): check SOURCE_API_KEY and SOURCE_API_KEY_HEADER", baseURL, status.StatusCode)
	case errors.As(err, &status):
		return fmt.Errorf("source %s answered GET /products with HTTP %d: %w", baseURL, status.StatusCode, err)
	case errors.Is(err, source.ErrStalled):
		return fmt.Errorf("source %s is too slow: %w", baseURL, err)
	case errors.Is(err, source.ErrNotArray), errors.Is(err, source.ErrMalformed):
		return fmt.Errorf("source %s does not speak the FakeStore API (GET /products is not a JSON array): %w", baseURL, err)
	default:
		return fmt.Errorf("source %s is unreachable: %w; check SOURCE_BASE_URL, or unset it to use the built-in API", baseURL, err)
	}
}

// sourceConfig is the storefront client configuration the functions get
// from functionEnv for a source at baseURL.
func sourceConfig(baseURL string, env config.Lookup) (source.Config, error) {
	r := config.NewReader(functionEnv(env, baseURL, "", nil))
	cfg := source.ReadConfig(r)
	return cfg, r.Err()
}
