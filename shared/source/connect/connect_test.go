package connect

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/source/shopify"
	"github.com/shoplake/shoplake/shared/source/woocommerce"
)

func TestReadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    map[string]string
		kind    string
		wantErr string
	}{
		{"FakeStore by default", map[string]string{}, FakeStore, ""},
		{"Shopify with its token", map[string]string{"SOURCE_KIND": "shopify", "SOURCE_API_KEY": "shpat_x"}, Shopify, ""},
		{"WooCommerce from a secret", map[string]string{"SOURCE_KIND": "WooCommerce", "SOURCE_API_KEY_SECRET": "projects/p/secrets/s/versions/latest"}, WooCommerce, ""},
		{"an unknown kind", map[string]string{"SOURCE_KIND": "magento"}, FakeStore, "SOURCE_KIND: must be one of fakestore, shopify, woocommerce"},
		{"Shopify without credentials", map[string]string{"SOURCE_KIND": "shopify"}, Shopify, "SOURCE_API_KEY_SECRET: is required for SOURCE_KIND=shopify"},
		{"an API version Shopify never released", map[string]string{"SOURCE_KIND": "shopify", "SOURCE_API_KEY": "t", "SHOPIFY_API_VERSION": "2025-08"}, Shopify, "SHOPIFY_API_VERSION: shopify API version \"2025-08\" is not a release"},
		{"a currency that is no ISO code", map[string]string{"SOURCE_CURRENCY": "dollars"}, FakeStore, "SOURCE_CURRENCY: must be an ISO 4217 code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"SOURCE_BASE_URL": "https://shop.example.com"}
			for k, v := range tt.vars {
				vars[k] = v
			}
			r := config.NewReader(config.Map(vars))
			cfg := ReadConfig(r)
			err := r.Err()
			if cfg.Kind == Shopify && tt.vars["SOURCE_RATE_LIMIT"] == "" && cfg.HTTP.RequestsPerSecond != 0 {
				t.Errorf("Shopify paced at %g requests/s; its cost bucket paces it", cfg.HTTP.RequestsPerSecond)
			}
			if cfg.Kind != tt.kind {
				t.Errorf("kind %q, want %q", cfg.Kind, tt.kind)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewOpensTheKindsAdapter(t *testing.T) {
	t.Parallel()
	base := Config{ShopifyAPIVersion: DefaultShopifyAPIVersion, Currency: "EUR"}
	base.HTTP.BaseURL = "https://shop.example.com"
	tests := []struct {
		kind, secret string
		wantErr      string
	}{
		{FakeStore, "", ""},
		{Shopify, "shpat_secret", ""},
		{WooCommerce, "ck_1:cs_secret", ""},
		{Shopify, "", "access token from secret x is empty"},
		{WooCommerce, "ck_only", "secret x must hold consumer_key:consumer_secret"},
	}
	for _, tt := range tests {
		cfg := base
		cfg.Kind = tt.kind
		src, err := New(cfg, tt.secret, "secret x")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s with %q: error %v, want %q", tt.kind, tt.secret, err, tt.wantErr)
			}
			if err != nil && tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("the error shows the credentials: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.kind, err)
			continue
		}
		if got := src.Store.Origin().Kind; got != tt.kind || src.Kind != tt.kind || src.Client == nil {
			t.Errorf("%s: opened %q (%+v)", tt.kind, got, src)
		}
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	for _, err := range []error{shopify.ErrUnauthorized, woocommerce.ErrRefused, ErrCredentials} {
		if !Refused(errors.Join(errors.New("listing"), err)) {
			t.Errorf("Refused(%v) = false", err)
		}
	}
	if Refused(errors.New("HTTP 503")) {
		t.Error("a 503 is not refused credentials")
	}
}

func TestCanonical(t *testing.T) {
	t.Parallel()
	for kind, want := range map[string]bool{"": false, FakeStore: false, Shopify: true, WooCommerce: true} {
		if got := Canonical(kind); got != want {
			t.Errorf("Canonical(%q) = %v, want %v", kind, got, want)
		}
	}
}
