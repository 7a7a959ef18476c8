package shopify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/functions/local/shopifyapi"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/source"
)

// exportAll runs a products export and reads it whole.
func exportAll(t *testing.T, f *fixture) ([]*model.CanonicalProduct, error) {
	t.Helper()
	op, err := f.client.ExportProducts(context.Background())
	if err != nil {
		return nil, err
	}
	var out []*model.CanonicalProduct
	err = f.client.EachExportedProduct(context.Background(), op, func(p *model.CanonicalProduct, err error) error {
		if err != nil {
			return err
		}
		if err := model.Validate(p); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// TestBulkExportStreamsEveryProduct: the export's JSONL, children written
// after their product or after every product, gives each product once with
// its variant, as the paged listing does.
func TestBulkExportStreamsEveryProduct(t *testing.T) {
	t.Parallel()
	for _, childrenLast := range []bool{false, true} {
		t.Run(fmt.Sprintf("children last %v", childrenLast), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 1000, Config{}, false)
			f.api.SetBulk(shopifyapi.BulkConfig{Polls: 3, ChildrenLast: childrenLast})
			products, err := exportAll(t, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(products) != 1000 {
				t.Fatalf("%d products, want 1000", len(products))
			}
			var sum money.Amount
			seen := map[string]bool{}
			for _, p := range products {
				if seen[p.SourceID] || len(p.Variants) != 1 || strings.Contains(string(p.Attributes), "variantsCount") {
					t.Fatalf("product %+v: twice, or not with exactly its one variant", p)
				}
				seen[p.SourceID] = true
				sum = sum.Add(p.Variants[0].Price)
			}
			// Prices 1.10, 2.10, …, 1000.10: 500,500 + 100.
			if sum.String() != "500600" {
				t.Errorf("prices sum to %s, want exactly 500600", sum)
			}
			// The run, three RUNNING answers, COMPLETED: 5 queries, no more.
			if s := f.api.Stats(); s.Requests != 5 {
				t.Errorf("%d GraphQL requests, want 5", s.Requests)
			}
		})
	}
}

// TestBulkExportThatDoesNotCompleteIsAClearError: FAILED, CANCELED and
// EXPIRED end the export with an error naming the operation and its end;
// nothing is read.
func TestBulkExportThatDoesNotCompleteIsAClearError(t *testing.T) {
	t.Parallel()
	for _, end := range []shopifyapi.BulkEnd{shopifyapi.BulkFailed, shopifyapi.BulkCanceled, shopifyapi.BulkExpired} {
		t.Run(string(end), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 10, Config{}, false)
			f.api.SetBulk(shopifyapi.BulkConfig{Polls: 1, End: end})
			products, err := exportAll(t, f)
			want := fmt.Sprintf("gid://shopify/BulkOperation/1 ended %s", end)
			if !errors.Is(err, ErrBulk) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was published") || len(products) != 0 {
				t.Errorf("error %v with %d products, want ErrBulk saying %q", err, len(products), want)
			}
		})
	}
}

// TestBulkDownloadSendsNoToken: the result lives on another host (a signed
// link); the store's token is not sent there, and the signed query is not
// repeated in an error.
func TestBulkDownloadSendsNoToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10, Config{}, false)
	op, err := f.client.ExportProducts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The stand-in refuses a token at the result's URL, so reading proves it.
	if err := f.client.EachExportedProduct(context.Background(), op, func(*model.CanonicalProduct, error) error { return nil }); err != nil {
		t.Fatal(err)
	}
	op.URL = strings.Replace(op.URL, "s3cr3t", "forged", 1)
	err = f.client.EachExportedProduct(context.Background(), op, func(*model.CanonicalProduct, error) error { return nil })
	var se *source.StatusError
	if !errors.As(err, &se) || se.StatusCode != 403 || strings.Contains(err.Error(), "forged") {
		t.Errorf("error %v, want HTTP 403 without the link's signature", err)
	}
}
