// Package secrets reads secret values from Secret Manager. Values are returned
// to the caller, which keeps them for the instance's life; they are never
// logged or put in errors.
package secrets

import (
	"context"
	"fmt"
	"strings"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2"
)

// accessor is the part of the Secret Manager client that Access uses.
type accessor interface {
	AccessSecretVersion(ctx context.Context, req *secretmanagerpb.AccessSecretVersionRequest, opts ...gax.CallOption) (*secretmanagerpb.AccessSecretVersionResponse, error)
}

var _ accessor = (*secretmanager.Client)(nil)

// Fetch reads one secret version with a client of its own, closed before it
// returns: for values read once per instance at start-up.
func Fetch(ctx context.Context, name string) (string, error) {
	client, err := secretmanager.NewClient(ctx)
	if err != nil {
		return "", fmt.Errorf("secret manager client: %w", err)
	}
	defer client.Close()
	return Access(ctx, client, name)
}

// Access returns the payload of the secret version name
// (projects/<p>/secrets/<s>/versions/<v>), with surrounding white space removed.
func Access(ctx context.Context, client accessor, name string) (string, error) {
	resp, err := client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		return "", fmt.Errorf("access secret %s: %w", name, err)
	}
	v := strings.TrimSpace(string(resp.GetPayload().GetData()))
	if v == "" {
		return "", fmt.Errorf("access secret %s: the secret is empty", name)
	}
	return v, nil
}
