package secrets

import (
	"context"
	"errors"
	"strings"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2"
)

type fakeAccessor map[string]string

func (f fakeAccessor) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest, _ ...gax.CallOption) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	v, ok := f[req.GetName()]
	if !ok {
		return nil, errors.New("rpc error: code = NotFound")
	}
	return &secretmanagerpb.AccessSecretVersionResponse{Payload: &secretmanagerpb.SecretPayload{Data: []byte(v)}}, nil
}

func TestAccess(t *testing.T) {
	t.Parallel()
	f := fakeAccessor{"projects/p/secrets/key/versions/latest": "s3cr3t\n", "projects/p/secrets/empty/versions/1": " "}
	got, err := Access(context.Background(), f, "projects/p/secrets/key/versions/latest")
	if err != nil || got != "s3cr3t" {
		t.Errorf("Access = %q, %v", got, err)
	}
	for _, name := range []string{"projects/p/secrets/empty/versions/1", "projects/p/secrets/missing/versions/1"} {
		_, err := Access(context.Background(), f, name)
		if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Access(%s) error = %v", name, err)
		}
	}
}
