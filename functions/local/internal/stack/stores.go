package stack

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/functions/local/wooapi"
	"github.com/shoplake/shoplake/shared/source/connect"
)

// The credentials the local store stand-ins accept: made up, local, and
// never a real store's.
const (
	LocalShopifyToken = "shpat_shoplake_local"
	LocalWooKey       = "ck_shoplake_local"
	LocalWooSecret    = "cs_shoplake_local"
)

// StoreFaults are the --source-fault names of each store stand-in.
var StoreFaults = map[string][]string{
	connect.Shopify:     shopifyFaultNames(),
	connect.WooCommerce: {"credentials-refused", "503-run", "html-page", "cut-off"},
}

func shopifyFaultNames() []string {
	modes := make([]string, len(shopifyapi.Modes))
	for i, m := range shopifyapi.Modes {
		modes[i] = string(m)
	}
	return modes
}

// storeHandler is the stand-in of a store of kind, seeded from the
// FakeStore fixtures or, when scale is positive, holding scale synthetic
// products, customers and orders, misbehaving as fault says; and the
// credentials the functions send it (SOURCE_API_KEY) and its description.
func storeHandler(kind string, scale int64, fault storefront.Fault) (h http.Handler, served func() int64, secret, desc string, err error) {
	if fault != "" && !slices.Contains(StoreFaults[kind], string(fault)) {
		return nil, nil, "", "", fmt.Errorf("unknown %s fault %q (one of: %s)", kind, fault, strings.Join(StoreFaults[kind], ", "))
	}
	holds := "the FakeStore snapshot (20 products, 10 customers, 7 orders)"
	if scale > 0 {
		holds = fmt.Sprintf("%d synthetic products, customers and orders", scale)
	}
	switch kind {
	case connect.Shopify:
		cfg := shopifyapi.Config{Token: LocalShopifyToken}
		var data shopifyapi.Connections
		if scale > 0 {
			// Shopify's own bucket (1,000 points restoring 50 a second)
			// paces a large store to hours: at scale the stand-in's is
			// wide, so that the run measures Shoplake, not the pacing.
			cfg.Bucket = shopifyapi.Bucket{Max: 1e12, RestoreRate: 1e12}
			holds += ", cost bucket widened"
		} else {
			var err error
			if data, err = shopifyapi.FromFakeStore(); err != nil {
				return nil, nil, "", "", err
			}
		}
		api := shopifyapi.NewServer(cfg, data)
		if scale > 0 {
			api.GenerateStore(int(scale), int(scale), int(scale))
		}
		if fault != "" {
			if err := api.Misbehave(shopifyapi.Mode(fault)); err != nil {
				return nil, nil, "", "", err
			}
		}
		return api, api.Served, LocalShopifyToken, "built-in Shopify stand-in (GraphQL Admin API " + connect.DefaultShopifyAPIVersion + ") holding " + holds, nil
	case connect.WooCommerce:
		var data map[string][]wooapi.Record
		if scale <= 0 {
			var err error
			if data, err = wooapi.FromFakeStore(); err != nil {
				return nil, nil, "", "", err
			}
		}
		woo := wooapi.NewServer(wooapi.Config{ConsumerKey: LocalWooKey, ConsumerSecret: LocalWooSecret}, data)
		if scale > 0 {
			woo.GenerateStore(int(scale), int(scale), int(scale))
		}
		var api http.Handler = woo
		if fault != "" {
			api = wooFault(api, fault)
		}
		return api, woo.Served, LocalWooKey + ":" + LocalWooSecret, "built-in WooCommerce stand-in (REST API v3) holding " + holds, nil
	}
	return nil, nil, "", "", fmt.Errorf("no built-in stand-in for source %q", kind)
}

// wooFault wraps the WooCommerce stand-in to misbehave: refuse the
// credentials, answer 503 (Retry-After: 1) to the first three requests,
// answer every request with a WordPress error page sent with status 200, or
// send half of the first answer to each page, then close the connection.
func wooFault(api http.Handler, fault storefront.Fault) http.Handler {
	var mu sync.Mutex
	seen := map[string]bool{}
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !seen[r.URL.RequestURI()]
		seen[r.URL.RequestURI()] = true
		n++
		count := n
		mu.Unlock()
		switch {
		case fault == "credentials-refused":
			wooapi.Refuse().ServeHTTP(w, r)
		case fault == "503-run" && count <= 3:
			wooapi.Unavailable().ServeHTTP(w, r)
		case fault == "html-page":
			wooapi.HTMLPage().ServeHTTP(w, r)
		case fault == "cut-off" && first:
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, r)
			storefront.CutOff(w, rec, false)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// serveLocal serves a built-in source on a free loopback port until the
// stack closes, and returns its URL: handler builds what answers, knowing
// the URL it will be reached at.
func (st *Stack) serveLocal(handler func(url string) (http.Handler, error)) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("start the built-in source: %w", err)
	}
	url := "http://" + l.Addr().String()
	h, err := handler(url)
	if err != nil {
		l.Close()
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	st.closers = append(st.closers, func() { srv.Close() })
	return url, nil
}
