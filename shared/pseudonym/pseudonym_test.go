package pseudonym

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoplake/shoplake/shared/config"
)

func TestEmailIsKeyedStableAndNormalised(t *testing.T) {
	k1, _ := NewKey("0123456789abcdef-one")
	k2, _ := NewKey("0123456789abcdef-two")
	a := k1.Email("John@Gmail.com ")
	if a != k1.Email("john@gmail.com") {
		t.Error("case or white space changes the pseudonym")
	}
	if a == k2.Email("john@gmail.com") {
		t.Error("two keys give the same pseudonym")
	}
	if len(a) != 64 || strings.Contains(a, "john") {
		t.Errorf("pseudonym %q, want 64 hex digits", a)
	}
	// RFC 4231 test case 2 pins the construction: HMAC-SHA-256.
	if k := (Key{b: []byte("Jefe")}); k.Email("what do ya want for nothing?") != "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Errorf("not HMAC-SHA-256: %s", k.Email("what do ya want for nothing?"))
	}
}

func TestKeyNeverPrints(t *testing.T) {
	k, err := NewKey("marker-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %s", k, k, k)} {
		if strings.Contains(s, "marker") {
			t.Errorf("the key printed: %s", s)
		}
	}
	if _, err := NewKey("short"); err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("NewKey(short) = %v, want an error that does not echo the key", err)
	}
}

func TestReadConfig(t *testing.T) {
	cases := []struct {
		env     map[string]string
		wantErr string
	}{
		{env: map[string]string{}, wantErr: "PSEUDONYM_KEY_SECRET: is required"},
		{env: map[string]string{"PSEUDONYM_KEY": "0123456789abcdef"}},
		{env: map[string]string{"PSEUDONYM_KEY": "short"}, wantErr: "at least 16 bytes"},
		{env: map[string]string{"PSEUDONYM_KEY_SECRET": "projects/p/secrets/k/versions/1"}},
		{env: map[string]string{"PSEUDONYM_KEY_SECRET": "k"}, wantErr: "must be a resource name"},
		{env: map[string]string{"PSEUDONYM_KEY_SECRET": "projects/p/secrets/k/versions/1", "PSEUDONYM_KEY": "0123456789abcdef"}, wantErr: "not both"},
	}
	for _, tc := range cases {
		r := config.NewReader(config.Map(tc.env))
		ReadConfig(r)
		err := r.Err()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: %v, want %q", tc.env, err, tc.wantErr)
		case err != nil && strings.Contains(err.Error(), "0123456789abcdef"):
			t.Errorf("the error shows the key: %v", err)
		}
	}
}
