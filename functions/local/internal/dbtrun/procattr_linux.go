package dbtrun

import (
	"os/exec"
	"syscall"
)

// dieWithRunner makes the kernel kill cmd when the runner dies, however it
// dies, so that no orphaned dbt keeps the warehouse locked.
func dieWithRunner(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
