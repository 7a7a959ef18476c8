package shopify

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/shoplake/shoplake/shared/model"
)

// TestDeletionsAreFound: a deleted product comes from the deletion feed as a
// tombstone; a deleted order is missing from the reconcile of ids.
func TestDeletionsAreFound(t *testing.T) {
	t.Parallel()
	c, api := fixtureStore(t)
	before := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	at := before.Add(time.Hour)
	api.Delete("products", "gid://shopify/Product/3", at)
	api.Delete("orders", "gid://shopify/Order/5", at)

	tombstones := collect(t, c.DeletedProducts, before)
	if len(tombstones) != 1 || tombstones[0].SourceID != "gid://shopify/Product/3" || !tombstones[0].Deleted || !tombstones[0].UpdatedAt.Equal(at) {
		t.Fatalf("tombstones %+v, want product 3 deleted at %s", tombstones, at)
	}
	if later := collect(t, c.DeletedProducts, at); len(later) != 0 {
		t.Errorf("deletions after the last one: %+v", later)
	}
	if products := collect(t, c.Products, time.Time{}); slices.ContainsFunc(products, func(p *model.CanonicalProduct) bool { return p.SourceID == "gid://shopify/Product/3" }) {
		t.Error("the deleted product is still listed")
	}

	var ids []string
	if err := c.OrderIDs(context.Background(), func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	known := []string{"gid://shopify/Order/1", "gid://shopify/Order/2", "gid://shopify/Order/3", "gid://shopify/Order/4",
		"gid://shopify/Order/5", "gid://shopify/Order/6", "gid://shopify/Order/7"}
	var deleted []string
	for _, id := range known {
		if !slices.Contains(ids, id) {
			deleted = append(deleted, id)
		}
	}
	if len(ids) != 6 || !slices.Equal(deleted, []string{"gid://shopify/Order/5"}) {
		t.Errorf("reconcile listed %v; deleted %v, want order 5", ids, deleted)
	}
	var customers int
	if err := c.CustomerIDs(context.Background(), func(string) error { customers++; return nil }); err != nil || customers != 10 {
		t.Errorf("%d customer ids, %v", customers, err)
	}
}
