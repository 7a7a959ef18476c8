// Package logtest captures what a function logs, for tests. Only tests import
// it.
package logtest

import (
	"bytes"
	"log/slog"
	"sync"

	"github.com/shoplake/shoplake/shared/logging"
)

// Buffer holds log output. Unlike a bytes.Buffer it is safe for concurrent
// use: several loggers (two racing polls, the handlers of an HTTP server) may
// write to it while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// New returns a debug-level logger in the deployed functions' format
// (package logging) that writes to a new Buffer, and the Buffer.
func New() (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return logging.New(b, slog.LevelDebug), b
}
