package shopify

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
)

func TestAccessScopes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		granted []string
		wantErr string
		notice  string
	}{
		{name: "everything", granted: []string{"read_products", "read_customers", "read_orders", "read_all_orders"}},
		{name: "no history", granted: []string{"read_products", "read_customers", "read_orders"}, notice: "only the last 60 days of orders are visible"},
		{name: "no customers", granted: []string{"read_products", "read_orders"}, wantErr: "lacks the scopes read_customers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(shopifyapi.NewServer(shopifyapi.Config{Token: "t", Scopes: tc.granted}, nil))
			t.Cleanup(srv.Close)
			c, err := New(Config{BaseURL: srv.URL, APIVersion: "2025-07", AccessToken: "t", TokenName: "SHOPIFY_ACCESS_TOKEN"})
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.AccessScopes(context.Background())
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Error(err)
			case tc.wantErr == "" && ((tc.notice == "") != (s.Notice() == "") || !strings.Contains(s.Notice(), tc.notice)):
				t.Errorf("notice %q, want %q", s.Notice(), tc.notice)
			}
		})
	}
}
