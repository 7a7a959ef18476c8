package stack

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
)

// TestServeOnReplacesAPortTakenMeanwhile takes the port the runner found free
// before functions-framework binds it, as a parallel process can: with any
// port allowed the functions come up elsewhere; with a fixed port the error
// says the port is in use.
func TestServeOnReplacesAPortTakenMeanwhile(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	if _, err := serveOn(context.Background(), addr, false); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("fixed port taken: got %v, want address in use", err)
	}
	base, err := serveOn(context.Background(), addr, true)
	if err != nil {
		t.Fatalf("any port: %v", err)
	}
	if strings.HasSuffix(base, addr) || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("served on %s, want another free port than %s", base, addr)
	}
}
