//go:build !linux

package main

// resetPeakRSS does nothing where the peak cannot be reset.
func resetPeakRSS() {}

// peakRSS returns 0: unknown outside Linux.
func peakRSS() int64 { return 0 }
