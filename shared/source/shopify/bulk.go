package shopify

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/money"
	"github.com/shoplake/shoplake/shared/source"
)

// The bulk operation flow: start an export of a query, poll its status,
// stream its JSONL result.
const (
	bulkRunMutation = `mutation BulkOperationRunQuery($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}`
	bulkStatusQuery = `query BulkOperationStatus($id: ID!) {
  node(id: $id) { ... on BulkOperation { id status errorCode objectCount url } }
}`
	// bulkProductsQuery exports every product with its variants; each
	// product line carries its variants' count, so a product is complete
	// once that many variant lines have come, wherever they stand.
	bulkProductsQuery = `{
  products {
    edges { node {
      id title productType status createdAt updatedAt
      variantsCount { count }
      variants { edges { node { id sku price } } }
    } }
  }
}`
)

// ErrBulk reports a bulk operation that ended other than COMPLETED: FAILED,
// CANCELED or EXPIRED. Nothing of it is published.
var ErrBulk = errors.New("shopify bulk operation did not complete")

// BulkOperation is a completed export.
type BulkOperation struct {
	ID          string
	ObjectCount string
	// URL is the JSONL result (signed; empty when the export is empty).
	URL string
}

// DefaultBulkPoll is how often the status of a bulk operation is asked.
const DefaultBulkPoll = 2 * time.Second

// ExportProducts starts a bulk export of every product and waits until it
// completes, asking its status every Config.BulkPoll; the caller's context
// bounds the wait. An operation that fails, is canceled or expires is an
// error wrapping ErrBulk that names it.
func (c *Client) ExportProducts(ctx context.Context) (*BulkOperation, error) {
	var run struct {
		Run struct {
			Op *struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"bulkOperation"`
			UserErrors []struct {
				Message string `json:"message"`
			} `json:"userErrors"`
		} `json:"bulkOperationRunQuery"`
	}
	if err := c.Query(ctx, "BulkOperationRunQuery", bulkRunMutation, map[string]any{"query": bulkProductsQuery}, &run); err != nil {
		return nil, err
	}
	if len(run.Run.UserErrors) > 0 || run.Run.Op == nil {
		msg := "no operation was started"
		if len(run.Run.UserErrors) > 0 {
			msg = run.Run.UserErrors[0].Message
		}
		return nil, fmt.Errorf("%w: bulkOperationRunQuery refused the products export: %s", ErrBulk, msg)
	}
	id := run.Run.Op.ID
	for polls := 1; ; polls++ {
		if err := c.sleep(ctx, c.cfg.BulkPoll); err != nil {
			return nil, fmt.Errorf("bulk operation %s: %w while waiting for it", id, err)
		}
		var st struct {
			Node *struct {
				Status      string  `json:"status"`
				ErrorCode   *string `json:"errorCode"`
				ObjectCount string  `json:"objectCount"`
				URL         *string `json:"url"`
			} `json:"node"`
		}
		if err := c.Query(ctx, "BulkOperationStatus", bulkStatusQuery, map[string]any{"id": id}, &st); err != nil {
			return nil, err
		}
		if st.Node == nil {
			return nil, fmt.Errorf("%w: bulk operation %s is unknown to the store", ErrBulk, id)
		}
		switch st.Node.Status {
		case "CREATED", "RUNNING", "CANCELING":
			continue
		case "COMPLETED":
			op := &BulkOperation{ID: id, ObjectCount: st.Node.ObjectCount}
			if st.Node.URL != nil {
				op.URL = *st.Node.URL
			}
			return op, nil
		default:
			code := "none"
			if st.Node.ErrorCode != nil {
				code = *st.Node.ErrorCode
			}
			return nil, fmt.Errorf("%w: %s ended %s (error code %s) after %d status queries; nothing was published, the next run starts a new export",
				ErrBulk, id, st.Node.Status, code, polls)
		}
	}
}

// EachExportedProduct makes one attempt at reading a completed export's
// result, streaming it: fn gets each product with its variants (or a
// *DecodeError for a line that cannot be read), in the order they complete.
// Only products still waiting for a variant are held, so memory does not
// grow with the catalogue when, as usual, variants follow their product. A
// failure of the download is transient (source.ErrTransient) and fn may have
// seen part of the result: run it inside Retry, starting from nothing.
func (c *Client) EachExportedProduct(ctx context.Context, op *BulkOperation, fn func(*model.CanonicalProduct, error) error) error {
	if op.URL == "" {
		return nil
	}
	return c.download.Download(ctx, op.URL, func(body io.Reader) error {
		a := assembler{c: c, fn: fn, pending: map[string]*pendingProduct{}, orphans: map[string][]model.Variant{}}
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), c.maxLine())
		for sc.Scan() {
			if err := a.line(sc.Bytes()); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return fmt.Errorf("bulk operation %s: a line over %d bytes (SOURCE_MAX_RECORD_BYTES)", op.ID, c.maxLine())
			}
			return err
		}
		return a.finish(op.ID)
	})
}

func (c *Client) maxLine() int {
	return max(c.cfg.HTTP.MaxRecordBytes, source.DefaultMaxRecordBytes)
}

type pendingProduct struct {
	p    *model.CanonicalProduct
	want int
}

// assembler joins variant lines to their product line.
type assembler struct {
	c       *Client
	fn      func(*model.CanonicalProduct, error) error
	pending map[string]*pendingProduct
	orphans map[string][]model.Variant // variants whose product has not come yet
}

func (a *assembler) line(b []byte) error {
	// A line is a product or, with its __parentId, one of its variants: one
	// decoding reads either.
	var l struct {
		productNode
		ParentID string       `json:"__parentId"`
		SKU      string       `json:"sku"`
		Price    money.Amount `json:"price"`
	}
	if err := source.Decode(b, &l); err != nil {
		connection := "products (bulk)"
		if bytes.Contains(b, []byte(`"__parentId"`)) {
			connection += " variant"
		}
		return a.fn(nil, &DecodeError{Connection: connection, ID: cmp.Or(nodeID(b), string(b[:min(len(b), 80)])), Err: err})
	}
	if l.ParentID != "" {
		variant := model.Variant{SourceID: l.ID, SKU: l.SKU, Price: l.Price}
		if pp, ok := a.pending[l.ParentID]; ok {
			pp.p.Variants = append(pp.p.Variants, variant)
			return a.complete(l.ParentID, pp)
		}
		a.orphans[l.ParentID] = append(a.orphans[l.ParentID], variant)
		return nil
	}
	pp := &pendingProduct{p: a.c.canonicalProduct(&l.productNode)}
	if l.VariantsCount != nil {
		pp.want = l.VariantsCount.Count
	}
	pp.p.Variants = append(pp.p.Variants, a.orphans[l.ID]...)
	delete(a.orphans, l.ID)
	a.pending[l.ID] = pp
	return a.complete(l.ID, pp)
}

// complete hands a product on once all its variants have come.
func (a *assembler) complete(id string, pp *pendingProduct) error {
	if len(pp.p.Variants) < pp.want {
		return nil
	}
	delete(a.pending, id)
	return a.fn(pp.p, nil)
}

// finish hands on the products whose variants did not all come (the count
// was read before a variant was deleted): as they are. Variants of a product
// the export did not hold are invalid records.
func (a *assembler) finish(opID string) error {
	for id, pp := range a.pending {
		delete(a.pending, id)
		if err := a.fn(pp.p, nil); err != nil {
			return err
		}
	}
	for parent, vs := range a.orphans {
		err := &DecodeError{Connection: "products (bulk) variant", ID: vs[0].SourceID,
			Err: fmt.Errorf("its product %s is not in bulk operation %s", parent, opID)}
		if err := a.fn(nil, err); err != nil {
			return err
		}
	}
	return nil
}

// ProductsInBulk lists every product through a bulk export (ExportProducts,
// then EachExportedProduct): the way Shopify asks a large catalogue to be
// read whole, one query's cost however many products. One attempt: run it
// inside Retry; an attempt after a failure starts a new export.
func (c *Client) ProductsInBulk(ctx context.Context, fn func(*model.CanonicalProduct, error) error) error {
	op, err := c.ExportProducts(ctx)
	if err != nil {
		return err
	}
	return c.EachExportedProduct(ctx, op, fn)
}
