package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/go-playground/validator/v10"
)

// Cart event types. A FakeStore cart's events are cart.*; a store's order
// or abandoned checkout (Shopify, WooCommerce) travels the same path as an
// order.* event carrying its canonical record.
const (
	EventCartUpserted  = "cart.upserted"
	EventCartDeleted   = "cart.deleted"
	EventOrderUpserted = "order.upserted"
	EventOrderDeleted  = "order.deleted"
)

// CartEventSchemaVersion is the schema_version attribute of the events this
// version publishes and accepts.
const CartEventSchemaVersion = "1"

// CartEvent is the Pub/Sub message body PollCarts publishes for a new,
// changed or deleted cart, or for a store's order (StoreOrder, with the
// cart fields empty) updated since its last poll.
type CartEvent struct {
	EventID   string          `json:"event_id" validate:"len=64,hexadecimal"`
	EventType string          `json:"event_type" validate:"oneof=cart.upserted cart.deleted order.upserted order.deleted"`
	CartID    int64           `json:"cart_id,omitempty"`
	UserID    int64           `json:"user_id" validate:"required_if=EventType cart.upserted,gte=0"`
	CartDate  *time.Time      `json:"cart_date" validate:"required_if=EventType cart.upserted,omitempty,from1970to2099"`
	Products  []CartEventLine `json:"products" validate:"max=10000,dive"`
	// StoreOrder is the order of an order.* event, as the store's adapter
	// read it (its money exact); nil on a cart's event.
	StoreOrder  *CanonicalOrder `json:"store_order,omitempty"`
	Fingerprint string          `json:"fingerprint" validate:"len=16,hexadecimal"`
	ExtractedAt time.Time       `json:"extracted_at" validate:"required"`
	PublishedAt time.Time       `json:"published_at" validate:"required"`
}

// IsOrderEvent reports whether ev is a store order's event (order.*), not
// a cart's.
func (ev *CartEvent) IsOrderEvent() bool {
	return ev.EventType == EventOrderUpserted || ev.EventType == EventOrderDeleted
}

// cartEventShape is the rule the fields of a CartEvent follow together: a
// cart's event names its cart (cart_id above 0) and carries no store order;
// a store order's event carries its order, whose deletion mark agrees with
// the event type, and no cart.
func cartEventShape(sl validator.StructLevel) {
	ev := sl.Current().Interface().(CartEvent)
	if !ev.IsOrderEvent() {
		if ev.CartID <= 0 {
			sl.ReportError(ev.CartID, "cart_id", "CartID", "gt", "0")
		}
		if ev.StoreOrder != nil {
			sl.ReportError(ev.StoreOrder, "store_order", "StoreOrder", "excluded_with_cart", "")
		}
		return
	}
	switch {
	case ev.StoreOrder == nil:
		sl.ReportError(ev.StoreOrder, "store_order", "StoreOrder", "required_with_order", "")
	case ev.StoreOrder.Deleted != (ev.EventType == EventOrderDeleted):
		sl.ReportError(ev.StoreOrder.Deleted, "store_order.deleted", "Deleted", "eq_event_type", ev.EventType)
	}
	if ev.CartID != 0 || ev.UserID != 0 || ev.CartDate != nil || len(ev.Products) > 0 {
		sl.ReportError(ev.CartID, "cart_id", "CartID", "excluded_with_order", "")
	}
}

// CartEventLine is one product line of a cart event, bounded as CartLine.
type CartEventLine struct {
	ProductID int64 `json:"product_id" validate:"gt=0"`
	Quantity  int64 `json:"quantity" validate:"gt=0,lte=1000000"`
}

// Fingerprint is the 64-bit hash of a cart's canonical content.
type Fingerprint uint64

// String is the fingerprint as 16 hex digits.
func (f Fingerprint) String() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(f))
	return hex.EncodeToString(b[:])
}

// CartFingerprint hashes a cart's canonical JSON: its fields in a fixed
// order and its product lines sorted by product id then quantity, so a cart
// whose lines come back in another order has the same fingerprint. buf is
// scratch space the caller may reuse; the returned slice replaces it.
func CartFingerprint(c *Cart, buf []byte) (Fingerprint, []byte) {
	lines := c.Products
	if !slices.IsSortedFunc(lines, compareLines) {
		lines = slices.Clone(lines)
		slices.SortFunc(lines, compareLines)
	}
	b := append(buf[:0], `{"id":`...)
	b = strconv.AppendInt(b, c.ID, 10)
	b = append(b, `,"userId":`...)
	b = strconv.AppendInt(b, c.UserID, 10)
	b = append(b, `,"date":`...)
	b = strconv.AppendQuote(b, c.Date)
	b = append(b, `,"products":[`...)
	for i, l := range lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"productId":`...)
		b = strconv.AppendInt(b, l.ProductID, 10)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, l.Quantity, 10)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	sum := sha256.Sum256(b)
	return Fingerprint(binary.BigEndian.Uint64(sum[:8])), b
}

func compareLines(a, b CartLine) int {
	if a.ProductID != b.ProductID {
		return int(min(max(a.ProductID-b.ProductID, -1), 1))
	}
	return int(min(max(a.Quantity-b.Quantity, -1), 1))
}

// TombstoneFingerprint is the fingerprint of the deletion of a cart whose last
// known fingerprint was last: deterministic, so a retried poll publishes the
// same tombstone.
func TombstoneFingerprint(last Fingerprint) Fingerprint {
	var b [15]byte
	copy(b[:], "deleted")
	binary.BigEndian.PutUint64(b[7:], uint64(last))
	sum := sha256.Sum256(b[:])
	return Fingerprint(binary.BigEndian.Uint64(sum[:8]))
}

// CartEventID is hex(sha256(cart_id ‖ fingerprint)): the same cart content
// always yields the same id, so duplicates from any cause share it.
func CartEventID(cartID int64, fp Fingerprint) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(cartID))
	binary.BigEndian.PutUint64(b[8:], uint64(fp))
	sum := sha256.Sum256(b[:])
	return hex.EncodeToString(sum[:])
}

// CartDay is the cart's date as days since the Unix epoch (0 when unparsable;
// validation rejects such carts).
func CartDay(c *Cart) int32 {
	t, err := time.Parse(cartDateLayout, c.Date)
	if err != nil {
		return 0
	}
	return EpochDay(t)
}

// EpochDay is t's day as days since the Unix epoch: the day CartDay gives a
// cart dated t (a cart event's cart_date).
func EpochDay(t time.Time) int32 {
	return int32(t.Unix() / 86400)
}

const cartDateLayout = "2006-01-02T15:04:05.000Z"

// NewUpsertEvent builds the cart.upserted event of a valid cart.
func NewUpsertEvent(c *Cart, fp Fingerprint, extractedAt, publishedAt time.Time) CartEvent {
	date, _ := time.Parse(cartDateLayout, c.Date)
	lines := make([]CartEventLine, len(c.Products))
	for i, l := range c.Products {
		lines[i] = CartEventLine{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	return CartEvent{
		EventID: CartEventID(c.ID, fp), EventType: EventCartUpserted,
		CartID: c.ID, UserID: c.UserID, CartDate: &date, Products: lines,
		Fingerprint: fp.String(), ExtractedAt: extractedAt.UTC(), PublishedAt: publishedAt.UTC(),
	}
}

// NewDeleteEvent builds the cart.deleted tombstone of a cart whose last
// fingerprint was last.
func NewDeleteEvent(cartID int64, last Fingerprint, extractedAt, publishedAt time.Time) CartEvent {
	fp := TombstoneFingerprint(last)
	return CartEvent{
		EventID: CartEventID(cartID, fp), EventType: EventCartDeleted, CartID: cartID,
		Products: []CartEventLine{}, Fingerprint: fp.String(),
		ExtractedAt: extractedAt.UTC(), PublishedAt: publishedAt.UTC(),
	}
}

// OrderFingerprint hashes a store order's canonical JSON: every field the
// adapter read, its update time and deletion mark included, in the model's
// fixed order (Attributes are encoded with sorted keys). The same version
// of an order read twice has the same fingerprint.
func OrderFingerprint(o *CanonicalOrder) (Fingerprint, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return 0, fmt.Errorf("fingerprint order %s: %w", o.SourceID, err)
	}
	sum := sha256.Sum256(b)
	return Fingerprint(binary.BigEndian.Uint64(sum[:8])), nil
}

// OrderEventID is hex(sha256("order" ‖ kind ‖ store ‖ source id ‖
// fingerprint)), each part ended by a zero byte: the same version of an
// order always yields the same id, so its repeats share it.
func OrderEventID(o *CanonicalOrder, fp Fingerprint) string {
	h := sha256.New()
	for _, part := range []string{"order", string(o.Kind), o.Store, o.SourceID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(fp))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))
}

// NewOrderEvent builds the event of a store order read at extractedAt:
// order.deleted when the store marks it deleted, order.upserted otherwise.
func NewOrderEvent(o *CanonicalOrder, extractedAt, publishedAt time.Time) (CartEvent, error) {
	fp, err := OrderFingerprint(o)
	if err != nil {
		return CartEvent{}, err
	}
	typ := EventOrderUpserted
	if o.Deleted {
		typ = EventOrderDeleted
	}
	return CartEvent{
		EventID: OrderEventID(o, fp), EventType: typ, StoreOrder: o, Products: []CartEventLine{},
		Fingerprint: fp.String(), ExtractedAt: extractedAt.UTC(), PublishedAt: publishedAt.UTC(),
	}, nil
}
