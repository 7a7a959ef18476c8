package shopify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoplake/shoplake/shared/model"
)

// Deletions: Shopify keeps a feed of deleted products (deletionEvents); of
// orders and customers it keeps none, so those are found by a reconcile of
// ids: a listing of ids only, compared by the caller with the ids it holds.
const (
	deletionEventsQuery = `query DeletionEvents($first: Int!, $after: String, $query: String) {
  deletionEvents(first: $first, after: $after, subjectTypes: [PRODUCT], query: $query) {
    nodes { subjectId subjectType occurredAt }
    pageInfo { hasNextPage endCursor }
  }
}`
	orderIDsQuery = `query OrderIDs($first: Int!, $after: String) {
  orders(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } }
}`
	customerIDsQuery = `query CustomerIDs($first: Int!, $after: String) {
  customers(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } }
}`
)

// DeletedProducts lists the products deleted after since (all the feed
// holds when since is zero) as tombstones: canonical products with Deleted
// set, their id, and the deletion's time as UpdatedAt.
func (c *Client) DeletedProducts(ctx context.Context, since time.Time, fn func(*model.CanonicalProduct, error) error) error {
	vars := map[string]any{}
	if !since.IsZero() {
		vars["query"] = fmt.Sprintf("occurred_at:>'%s'", since.UTC().Format(time.RFC3339))
	}
	return c.Each(ctx, "DeletionEvents", deletionEventsQuery, "deletionEvents", vars, func(raw json.RawMessage) error {
		var ev struct {
			SubjectID   string    `json:"subjectId"`
			SubjectType string    `json:"subjectType"`
			OccurredAt  time.Time `json:"occurredAt"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil || ev.SubjectID == "" {
			return fn(nil, &DecodeError{Connection: "deletionEvents", ID: string(raw[:min(len(raw), 80)]), Err: fmt.Errorf("not a deletion event: %v", err)})
		}
		at := ev.OccurredAt.UTC()
		return fn(&model.CanonicalProduct{Record: model.Record{Origin: c.Origin(), SourceID: ev.SubjectID, UpdatedAt: at, Deleted: true}}, nil)
	})
}

// OrderIDs lists the id of every order the store holds, for a reconcile:
// an order the caller holds that is not listed was deleted.
func (c *Client) OrderIDs(ctx context.Context, fn func(id string) error) error {
	return c.ids(ctx, "OrderIDs", orderIDsQuery, "orders", fn)
}

// CustomerIDs lists the id of every customer the store holds, as OrderIDs.
func (c *Client) CustomerIDs(ctx context.Context, fn func(id string) error) error {
	return c.ids(ctx, "CustomerIDs", customerIDsQuery, "customers", fn)
}

func (c *Client) ids(ctx context.Context, op, query, connection string, fn func(string) error) error {
	return c.Each(ctx, op, query, connection, nil, func(raw json.RawMessage) error {
		id := nodeID(raw)
		if id == "" {
			return fmt.Errorf("shopify %s: a node without an id: %.80s", op, raw)
		}
		return fn(id)
	})
}
