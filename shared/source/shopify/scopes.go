package shopify

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// The access scopes the adapter needs, and the one that widens what it sees.
var (
	// RequiredScopes are the scopes without which a listing fails.
	RequiredScopes = []string{"read_products", "read_customers", "read_orders"}
	// AllOrdersScope lets orders older than 60 days be read; without it
	// Shopify shows only the last 60 days of orders.
	AllOrdersScope = "read_all_orders"
)

const accessScopesQuery = `query AccessScopes {
  currentAppInstallation { accessScopes { handle } }
}`

// Scopes is what the app installation's token may read.
type Scopes struct {
	Granted []string
	// Missing are the RequiredScopes not granted.
	Missing []string
	// AllOrders reports whether read_all_orders is granted.
	AllOrders bool
}

// Notice is the line a run prints about the scopes: empty when all is
// granted, else what the operator loses and how to grant it.
func (s Scopes) Notice() string {
	switch {
	case len(s.Missing) > 0:
		return fmt.Sprintf("the Shopify app lacks the scopes %s: add them to the custom app and install it again", strings.Join(s.Missing, ", "))
	case !s.AllOrders:
		return "the Shopify app lacks read_all_orders: only the last 60 days of orders are visible; ask Shopify for the scope to read older ones"
	}
	return ""
}

// AccessScopes reads the scopes the token was granted. A token lacking a
// required scope is an error that names them; one lacking only
// read_all_orders is not (Scopes.Notice says what it means).
func (c *Client) AccessScopes(ctx context.Context) (Scopes, error) {
	var data struct {
		Installation struct {
			Scopes []struct {
				Handle string `json:"handle"`
			} `json:"accessScopes"`
		} `json:"currentAppInstallation"`
	}
	if err := c.Query(ctx, "AccessScopes", accessScopesQuery, nil, &data); err != nil {
		return Scopes{}, err
	}
	var s Scopes
	for _, sc := range data.Installation.Scopes {
		s.Granted = append(s.Granted, sc.Handle)
	}
	for _, want := range RequiredScopes {
		if !slices.Contains(s.Granted, want) {
			s.Missing = append(s.Missing, want)
		}
	}
	s.AllOrders = slices.Contains(s.Granted, AllOrdersScope)
	if len(s.Missing) > 0 {
		return s, fmt.Errorf("shopify: %s", s.Notice())
	}
	return s, nil
}

// Notice checks the token's scopes and returns what the operator must know
// about them (Scopes.Notice): an error when a required scope is missing, a
// line when only read_all_orders is.
func (c *Client) Notice(ctx context.Context) (string, error) {
	s, err := c.AccessScopes(ctx)
	if err != nil {
		return "", err
	}
	return s.Notice(), nil
}
