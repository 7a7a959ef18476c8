package main

import (
	"context"
	"io"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/shoplake/shoplake/functions/ingestbatch"
	"github.com/shoplake/shoplake/functions/loadrawobject"
	"github.com/shoplake/shoplake/functions/pollcarts"
	"github.com/shoplake/shoplake/functions/streamcartevents"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/setup"
)

// passedThrough are the optional settings a user may give the local functions,
// as they would to the deployed ones.
var passedThrough = []string{"SOURCE_API_KEY", "SOURCE_API_KEY_HEADER", "SOURCE_TIMEOUT", "SOURCE_MAX_RETRIES",
	"SOURCE_RATE_LIMIT", "SOURCE_MAX_RESPONSE_BYTES", "LOG_LEVEL", "CARTS_WINDOW_DAYS", "INSERT_BATCH_ROWS", "INSERT_BATCH_DELAY"}

// functionEnv is the environment the local functions see: the deployed
// variables, pointed at the local resources.
func functionEnv(user config.Lookup, sourceURL string) config.Lookup {
	env := map[string]string{
		"PROJECT_ID": ProjectID, "RAW_BUCKET": Bucket, "BQ_RAW_DATASET": RawDataset,
		"SOURCE_BASE_URL": sourceURL, "CART_EVENTS_TOPIC": Topic, "CART_STATE_OBJECT": StateObject,
	}
	for _, k := range passedThrough {
		if v, ok := user(k); ok {
			env[k] = v
		}
	}
	return config.Map(env)
}

// register builds the four functions through the constructors the cloud
// uses, overriding only the warehouse (DuckDB) and the transform trigger
// (dbt once the loads settle), and registers them with functions-framework.
// Cloud Storage and Pub/Sub reach the stand-ins through STORAGE_EMULATOR_HOST
// and PUBSUB_EMULATOR_HOST, set when they started.
func (st *stack) register(ctx context.Context, sourceURL string, logs io.Writer) error {
	lookup := functionEnv(st.opts.Env, sourceURL)
	ov := &setup.Overrides{Warehouse: st.wh, Transform: st.transform, LogOutput: logs}
	ingest, err := ingestbatch.Setup(ctx, lookup, ov)
	if err != nil {
		return err
	}
	load, err := loadrawobject.Setup(ctx, lookup, ov)
	if err != nil {
		return err
	}
	poll, err := pollcarts.Setup(ctx, lookup, ov)
	if err != nil {
		return err
	}
	stream, err := streamcartevents.Setup(ctx, lookup, ov)
	if err != nil {
		return err
	}
	functions.HTTP(ingestbatch.FunctionName, ingest.ServeHTTP)
	functions.HTTP(loadrawobject.FunctionName, load.ServeHTTP)
	functions.HTTP(pollcarts.FunctionName, poll.ServeHTTP)
	functions.HTTP(streamcartevents.FunctionName, stream.ServeHTTP)
	return nil
}
