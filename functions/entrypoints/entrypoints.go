// Package entrypoints lists Shoplake's functions: each entry point's name and
// the one constructor that builds it. The deployed source root registers this
// list with functions-framework, and the local runner builds the same list
// with its overrides, so the two cannot disagree on which functions exist or
// how each is built.
package entrypoints

import (
	"context"
	"net/http"

	"github.com/shoplake/shoplake/functions/ingestbatch"
	"github.com/shoplake/shoplake/functions/loadrawobject"
	"github.com/shoplake/shoplake/functions/pollcarts"
	"github.com/shoplake/shoplake/functions/streamcartevents"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/setup"
)

// Setup builds a function from its configuration; ov is nil in the cloud.
type Setup func(ctx context.Context, lookup config.Lookup, ov *setup.Overrides) (http.Handler, error)

// EntryPoint is one function.
type EntryPoint struct {
	// Name is what functions-framework serves the function under, and what a
	// deployed function selects with FUNCTION_TARGET.
	Name string
	// Setup is the function package's Setup.
	Setup Setup
}

// All returns the four functions, in the order data flows through them.
func All() []EntryPoint {
	return []EntryPoint{
		{ingestbatch.FunctionName, handler(ingestbatch.Setup)},
		{loadrawobject.FunctionName, handler(loadrawobject.Setup)},
		{pollcarts.FunctionName, handler(pollcarts.Setup)},
		{streamcartevents.FunctionName, handler(streamcartevents.Setup)},
	}
}

// Names returns the entry points' names, in the order of All.
func Names() []string {
	var names []string
	for _, e := range All() {
		names = append(names, e.Name)
	}
	return names
}

// handler adapts a Setup that returns its function's concrete type.
func handler[T http.Handler](fn func(context.Context, config.Lookup, *setup.Overrides) (T, error)) Setup {
	return func(ctx context.Context, lookup config.Lookup, ov *setup.Overrides) (http.Handler, error) {
		return fn(ctx, lookup, ov)
	}
}
