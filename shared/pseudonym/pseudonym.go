// Package pseudonym replaces personal identifiers with keyed hashes at
// ingestion, so that no lake object, raw table, SQL text or dbt artifact ever
// holds them: an e-mail address becomes the hex HMAC-SHA-256 of its trimmed,
// lower-cased form under a secret key. The same key gives the same hash on
// every run, so the hash joins across days; without the key, the hash cannot
// be recomputed from a guessed address.
package pseudonym

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/secrets"
)

// MinKeyBytes is the shortest key accepted.
const MinKeyBytes = 16

// Key is a pseudonymisation key. Its String never shows it.
type Key struct{ b []byte }

// NewKey returns a Key for secret, which must hold at least MinKeyBytes bytes.
func NewKey(secret string) (Key, error) {
	if len(secret) < MinKeyBytes {
		return Key{}, errors.New("the pseudonymisation key must be at least 16 bytes")
	}
	return Key{b: []byte(secret)}, nil
}

// String hides the key from logs and errors.
func (k Key) String() string { return "pseudonym.Key(redacted)" }

// Valid reports whether k holds a key.
func (k Key) Valid() bool { return len(k.b) > 0 }

// Email returns the pseudonym of an e-mail address.
func (k Key) Email(addr string) string {
	mac := hmac.New(sha256.New, k.b)
	mac.Write([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return hex.EncodeToString(mac.Sum(nil))
}

// Config says where the key comes from: a Secret Manager version
// (PSEUDONYM_KEY_SECRET, in the cloud) or the key itself (PSEUDONYM_KEY, for
// the local runner, which generates one per run directory).
type Config struct {
	Secret string
	Key    string
}

// ReadConfig reads PSEUDONYM_KEY_SECRET and PSEUDONYM_KEY. Exactly one must
// be set: there is no default key, public or otherwise.
func ReadConfig(r *config.Reader) Config {
	cfg := Config{Secret: r.String("PSEUDONYM_KEY_SECRET", ""), Key: r.String("PSEUDONYM_KEY", "")}
	switch {
	case cfg.Secret != "" && cfg.Key != "":
		r.Fail("PSEUDONYM_KEY", "set either PSEUDONYM_KEY (local) or PSEUDONYM_KEY_SECRET, not both")
	case cfg.Secret == "" && cfg.Key == "":
		r.Fail("PSEUDONYM_KEY_SECRET", "is required: the Secret Manager version of the e-mail pseudonymisation key (projects/<p>/secrets/<s>/versions/<v>)")
	case cfg.Secret != "" && !strings.HasPrefix(cfg.Secret, "projects/"):
		r.Fail("PSEUDONYM_KEY_SECRET", "must be a resource name projects/<p>/secrets/<s>/versions/<v>")
	case cfg.Key != "" && len(cfg.Key) < MinKeyBytes:
		r.Fail("PSEUDONYM_KEY", "must be at least 16 bytes")
	}
	return cfg
}

// Open returns the key cfg names, reading Secret Manager once when it must.
func Open(ctx context.Context, cfg Config) (Key, error) {
	if cfg.Secret == "" {
		return NewKey(cfg.Key)
	}
	v, err := secrets.Fetch(ctx, cfg.Secret)
	if err != nil {
		return Key{}, err
	}
	return NewKey(v)
}
