package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

// reservePort checks that 127.0.0.1:port can be listened on (0 finds a free
// one) and returns the address to serve on.
func reservePort(port int) (string, error) {
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("--port %d is not a TCP port (use 1-65535, or 0 for any free port)", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return "", fmt.Errorf("port %d is in use: stop what is using it, or run make run ARGS=\"--port 0\" to pick a free port", port)
		}
		return "", fmt.Errorf("cannot listen on port %d: %w", port, err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// serveOn serves the functions on addr. With anyPort, a port taken since it
// was found free (by a parallel test, an emulator) is replaced by another.
func serveOn(ctx context.Context, addr string, anyPort bool) (string, error) {
	if !anyPort {
		return serve(ctx, addr)
	}
	var base string
	_, err := onFreePort(func(addr string) (err error) {
		base, err = serve(ctx, addr)
		return err
	})
	return base, err
}

// onFreePort calls start with a free address on 127.0.0.1 and, while that
// address was taken between finding it free and start binding it (by a
// parallel test, an emulator), with another: five attempts at most. It
// returns the address start succeeded on.
func onFreePort(start func(addr string) error) (string, error) {
	var addr string
	var err error = syscall.EADDRINUSE
	for try := 0; try < 5 && errors.Is(err, syscall.EADDRINUSE); try++ {
		if addr, err = reservePort(0); err != nil {
			return "", err
		}
		err = start(addr)
	}
	return addr, err
}

// serve starts functions-framework on addr and waits until it answers.
func serve(ctx context.Context, addr string) (string, error) {
	host, port, _ := net.SplitHostPort(addr)
	errc := make(chan error, 1)
	go func() { errc <- funcframework.StartHostPort(host, port) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			return "", fmt.Errorf("start functions on %s: %w", addr, err)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return "http://" + addr, nil
		}
	}
	return "", fmt.Errorf("functions did not start listening on %s within 10s", addr)
}
