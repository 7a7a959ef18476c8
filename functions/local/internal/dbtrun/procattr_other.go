//go:build !linux

package dbtrun

import "os/exec"

// dieWithRunner is a no-op where the kernel offers no parent-death signal;
// the child still ends with the runner's process group on Ctrl-C.
func dieWithRunner(*exec.Cmd) {}
