package ingestbatch

import (
	"time"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/model"
	"github.com/shoplake/shoplake/shared/pseudonym"
	"github.com/shoplake/shoplake/shared/source/connect"
	"github.com/shoplake/shoplake/shared/state"
)

// DefaultRunTimeout is how long one call works by default (RUN_TIMEOUT):
// below the 540 s function timeout Terraform sets, with time to spare for
// recording the run.
const DefaultRunTimeout = 8 * time.Minute

// DefaultFullExportEvery is how often a catalogue read from its cursor and a
// feed of deletions is exported whole all the same (SOURCE_FULL_EXPORT_EVERY):
// a weekly check that no deletion was missed.
const DefaultFullExportEvery = 7 * 24 * time.Hour

// Config is IngestBatch's configuration.
type Config struct {
	config.Platform
	// RunTimeout bounds one call: the entities not done by then fail with
	// an error naming RUN_TIMEOUT (default DefaultRunTimeout).
	RunTimeout time.Duration
	// Source says which store to read and how (SOURCE_KIND and the
	// SOURCE_* variables).
	Source connect.Config
	// CursorLookback is how far before its cursor an incremental listing of
	// a store's orders starts (SOURCE_CURSOR_LOOKBACK, default
	// state.DefaultCursorLookback).
	CursorLookback time.Duration
	// FullExportEvery is how often a store that exports its catalogue in
	// bulk (Shopify) has it exported whole: between, its products are read
	// from their cursor and its feed of deletions (SOURCE_FULL_EXPORT_EVERY,
	// default DefaultFullExportEvery).
	FullExportEvery time.Duration
	// Pseudonym names the key that replaces users' e-mail addresses
	// (PSEUDONYM_KEY_SECRET, or PSEUDONYM_KEY locally).
	Pseudonym pseudonym.Config
}

// LoadConfig reads the configuration from lookup and reports every problem.
func LoadConfig(lookup config.Lookup) (Config, error) {
	r := config.NewReader(lookup)
	cfg := Config{Platform: r.Platform(), RunTimeout: r.RunTimeout(DefaultRunTimeout), Source: connect.ReadConfig(r),
		CursorLookback:  r.Duration("SOURCE_CURSOR_LOOKBACK", state.DefaultCursorLookback),
		FullExportEvery: r.Duration("SOURCE_FULL_EXPORT_EVERY", DefaultFullExportEvery),
		Pseudonym:       pseudonym.ReadConfig(r)}
	return cfg, r.Err()
}

// Fetches is how many fetches from the store a call makes one after
// another, each within SOURCE_RETRY_BUDGET: one per entity, and for
// Shopify the check of the token's scopes first.
func (c Config) Fetches() int {
	switch c.Source.Kind {
	case connect.FakeStore:
		return len(model.BatchEntities)
	case connect.Shopify:
		return len(storeEntities) + 1
	}
	return len(storeEntities)
}
