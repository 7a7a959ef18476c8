package main

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
	localShopifyToken = "shpat_shoplake_local"
	localWooKey       = "ck_shoplake_local"
	localWooSecret    = "cs_shoplake_local"
)

// storeFaults are the --source-fault names of each store stand-in.
var storeFaults = map[string][]string{
	connect.Shopify:     shopifyFaultNames(),
	connect.WooCommerce: {"credentials-refused", "503-run", "html-page", "cut-off"},
}

func shopifyFaultNames() []string {
	names := make([]string, len(shopifyapi.Modes))
	for i, m := range shopifyapi.Modes {
		names[i] = string(m)
	}
	return names
}

// storeHandler is the stand-in of a store of kind, seeded from the
// FakeStore fixtures, misbehaving as fault says, and the credentials the
// functions send it (SOURCE_API_KEY).
func storeHandler(kind string, fault storefront.Fault) (http.Handler, string, string, error) {
	if fault != "" && !slices.Contains(storeFaults[kind], string(fault)) {
		return nil, "", "", fmt.Errorf("unknown %s fault %q (one of: %s)", kind, fault, strings.Join(storeFaults[kind], ", "))
	}
	switch kind {
	case connect.Shopify:
		data, err := shopifyapi.FromFakeStore()
		if err != nil {
			return nil, "", "", err
		}
		api := shopifyapi.NewServer(shopifyapi.Config{Token: localShopifyToken}, data)
		if fault != "" {
			if err := api.Misbehave(shopifyapi.Mode(fault)); err != nil {
				return nil, "", "", err
			}
		}
		return api, localShopifyToken, "built-in Shopify stand-in (GraphQL Admin API " + connect.DefaultShopifyAPIVersion + ") holding the FakeStore snapshot (20 products, 10 customers, 7 orders)", nil
	case connect.WooCommerce:
		data, err := wooapi.FromFakeStore()
		if err != nil {
			return nil, "", "", err
		}
		var api http.Handler = wooapi.NewServer(wooapi.Config{ConsumerKey: localWooKey, ConsumerSecret: localWooSecret}, data)
		if fault != "" {
			api = wooFault(api, fault)
		}
		return api, localWooKey + ":" + localWooSecret, "built-in WooCommerce stand-in (REST API v3) holding the FakeStore snapshot (20 products, 10 customers, 7 orders)", nil
	}
	return nil, "", "", fmt.Errorf("no built-in stand-in for source %q", kind)
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

// serveLocal serves h on a free loopback port until the stack closes, and
// returns its URL.
func (st *stack) serveLocal(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("start the source stand-in: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	st.closers = append(st.closers, func() { srv.Close() })
	return "http://" + l.Addr().String(), nil
}
