package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/shared/config"
	"github.com/shoplake/shoplake/shared/pseudonym"
)

func TestPseudonymKeyIsKeptAndNeverShortened(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	none := config.Map(nil)
	first, err := pseudonymKey(dir, none)
	if err != nil || len(first) < pseudonym.MinKeyBytes {
		t.Fatalf("first key %q, %v", first, err)
	}
	if again, err := pseudonymKey(dir, none); err != nil || again != first {
		t.Errorf("second call = %q, %v; want the kept key", again, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "pseudonym.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", info, err)
	}
	if got, err := pseudonymKey(dir, config.Map(map[string]string{"PSEUDONYM_KEY": "from-the-environment-0123"})); err != nil || got != "from-the-environment-0123" {
		t.Errorf("PSEUDONYM_KEY = %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pseudonym.key"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pseudonymKey(dir, none); err == nil || !strings.Contains(err.Error(), "holds 5 bytes") {
		t.Errorf("a short key file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pseudonym.key")); string(b) != "short" {
		t.Errorf("the short key file was replaced by %q", b)
	}
}
