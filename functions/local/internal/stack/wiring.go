package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/shoplake/shoplake/functions/entrypoints"
	"github.com/shoplake/shoplake/functions/local/internal/names"
	"github.com/shoplake/shoplake/functions/local/internal/rundir"
	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/pseudonym"
	"github.com/shoplake/shoplake/shared/setup"
)

// passedThrough are the optional settings a user may give the local functions,
// as they would to the deployed ones.
var passedThrough = []string{"SOURCE_API_KEY", "SOURCE_API_KEY_HEADER", "SOURCE_CURRENCY", "SOURCE_STORE", "SHOPIFY_API_VERSION", "SHOPIFY_BULK_POLL", "WOOCOMMERCE_QUERY_AUTH", "SOURCE_TIMEOUT", "SOURCE_REQUEST_TIMEOUT",
	"SOURCE_MIN_BYTES_PER_SECOND", "SOURCE_MAX_RETRIES", "SOURCE_RETRY_BUDGET", "RUN_TIMEOUT", "SOURCE_RATE_LIMIT", "SOURCE_MAX_RESPONSE_BYTES", "SOURCE_MAX_RECORD_BYTES", "SOURCE_MAX_SHRINK", "SOURCE_CURSOR_LOOKBACK", "SOURCE_FULL_EXPORT_EVERY",
	"LOG_LEVEL", "CARTS_WINDOW_DAYS", "INSERT_BATCH_ROWS", "INSERT_BATCH_DELAY"}

// LocalRunTimeout is how long one call of a local function may work, unless
// RUN_TIMEOUT says otherwise.
const LocalRunTimeout = time.Hour

// functionEnv is the environment the local functions see: the deployed
// variables, pointed at the local resources, with the run directory's
// pseudonymisation key and the source's settings (SOURCE_KIND, and the
// credentials of a built-in stand-in), which the user's own settings
// override.
func functionEnv(user config.Lookup, sourceURL, key string, src map[string]string) config.Lookup {
	env := map[string]string{
		"PROJECT_ID": names.ProjectID, "RAW_BUCKET": names.Bucket, "BQ_RAW_DATASET": names.RawDataset,
		"SOURCE_BASE_URL": sourceURL, "CART_EVENTS_TOPIC": names.Topic, "CART_STATE_OBJECT": names.StateObject,
		"PSEUDONYM_KEY": key,
		// A call of a local function may take longer than the cloud's
		// RUN_TIMEOUT allows: at --scale, one poll lists a million carts.
		"RUN_TIMEOUT": LocalRunTimeout.String(),
	}
	for k, v := range src {
		env[k] = v
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
func (st *Stack) register(ctx context.Context, sourceURL string, logs io.Writer) error {
	key, err := pseudonymKey(st.cfg.Dir, st.cfg.Env)
	if err != nil {
		return err
	}
	lookup := functionEnv(st.cfg.Env, sourceURL, key, st.sourceEnv)
	ov := &setup.Overrides{Warehouse: st.wh, Transform: st.transform, LogOutput: logs}
	for _, e := range entrypoints.All() {
		h, err := e.Setup(ctx, lookup, ov)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		functions.HTTP(e.Name, h.ServeHTTP)
	}
	return nil
}

// pseudonymKey is the key that pseudonymises e-mail addresses: PSEUDONYM_KEY
// when set (never written anywhere), else a random key generated once per
// run directory and kept there (pseudonym.key, readable by its owner only),
// so that pseudonyms stay the same from run to run.
func pseudonymKey(dir string, user config.Lookup) (string, error) {
	if v, ok := user("PSEUDONYM_KEY"); ok && v != "" {
		return v, nil
	}
	path := filepath.Join(dir, "pseudonym.key")
	switch b, err := os.ReadFile(path); {
	case err == nil && len(b) >= pseudonym.MinKeyBytes:
		return string(b), nil
	case err == nil:
		// A new key would silently give every user a new email_hash.
		return "", fmt.Errorf("%s holds %d bytes, fewer than the %d a pseudonymisation key needs: restore it, or delete it to start new pseudonyms (every email_hash changes)",
			path, len(b), pseudonym.MinKeyBytes)
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read the pseudonymisation key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	key := hex.EncodeToString(raw)
	if err := rundir.ReplaceFile(path, []byte(key), 0o600); err != nil {
		return "", fmt.Errorf("keep the pseudonymisation key: %w", err)
	}
	return key, nil
}

// deferredTransform is the local transform trigger that LoadRawObject is
// given instead of the Cloud Run job. It only logs the request: the runner
// decides after the loads of a burst have settled whether dbt must run, from
// the raw tables and the last build's outcome (see the runner's transforms), and
// runs it once, with the warehouse file released.
type deferredTransform struct {
	logger *slog.Logger
}

// Start logs the request.
func (d deferredTransform) Start(ctx context.Context, reason string) error {
	d.logger.InfoContext(ctx, "transforms requested; the local runner runs dbt once the loads settle", "reason", reason)
	return nil
}
