package progress

import (
	"bytes"
	"os"
	"strconv"
)

// ResetPeakRSS starts a new peak of the runner's resident memory: from now
// on PeakRSS reports the highest since this call (Linux's clear_refs).
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// PeakRSS returns the runner's highest resident memory in bytes since the
// last ResetPeakRSS (or since it started), or 0 if it cannot be read.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
