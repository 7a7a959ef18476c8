//go:build !linux

package progress

// ResetPeakRSS does nothing where the peak cannot be reset.
func ResetPeakRSS() {}

// PeakRSS returns 0: unknown outside Linux.
func PeakRSS() int64 { return 0 }
