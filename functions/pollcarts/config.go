package pollcarts

import (
	"time"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/source/connect"
	"github.com/shoplake/shoplake/shared/state"
)

// DefaultRunTimeout is how long one poll works by default (RUN_TIMEOUT):
// below the 55 s function timeout Terraform sets, so that the poll fails
// with its own error rather than be killed.
const DefaultRunTimeout = 45 * time.Second

// Config is PollCarts' configuration.
type Config struct {
	config.Platform
	// RunTimeout bounds one poll: a poll not done by then fails, commits
	// nothing, and its error names RUN_TIMEOUT (default DefaultRunTimeout).
	RunTimeout time.Duration
	// Source says which store to read and how (SOURCE_KIND and the
	// SOURCE_* variables): a FakeStore's carts, or the orders and
	// abandoned checkouts of a Shopify or WooCommerce store.
	Source connect.Config
	// CursorLookback is how far before its cursor a poll of a store's
	// orders starts (SOURCE_CURSOR_LOOKBACK, default
	// state.DefaultCursorLookback); what it reads again is dropped.
	CursorLookback time.Duration
	// Topic is the cart events topic, an id or projects/<p>/topics/<t>
	// (CART_EVENTS_TOPIC).
	Topic string
	// StateObject is the state's object name in the raw bucket
	// (CART_STATE_OBJECT, default state/cart-poller.state).
	StateObject string
	// WindowDays, when positive, asks the source only for carts dated in the
	// last WindowDays days (FakeStore's startdate/enddate parameters); carts
	// outside the window are neither re-read nor considered deleted
	// (CARTS_WINDOW_DAYS, default 0: every cart, every poll).
	WindowDays int
}

// LoadConfig reads the configuration from lookup and reports every problem.
func LoadConfig(lookup config.Lookup) (Config, error) {
	r := config.NewReader(lookup)
	cfg := Config{
		Platform:       r.Platform(),
		RunTimeout:     r.RunTimeout(DefaultRunTimeout),
		Source:         connect.ReadConfig(r),
		CursorLookback: r.Duration("SOURCE_CURSOR_LOOKBACK", state.DefaultCursorLookback),
		Topic:          r.Required("CART_EVENTS_TOPIC"),
		StateObject:    r.String("CART_STATE_OBJECT", "state/cart-poller.state"),
		WindowDays:     int(r.Int("CARTS_WINDOW_DAYS", 0, 0, 36500)),
	}
	return cfg, r.Err()
}
