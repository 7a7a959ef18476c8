// Package rundir is the local runner's run directory: the lock one run
// holds on it (Take), and its state files written so that a crash leaves
// them whole, the old content or the new, never a torn file (ReplaceFile).
package rundir

import "os"

// ReplaceFile replaces path with b as one step: b is written to a temporary
// file beside it and fsynced, then renamed over path, so a crash leaves the
// old content or the new, never a torn file.
func ReplaceFile(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// SyncDir flushes a directory's entries (a new or renamed file) to disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
