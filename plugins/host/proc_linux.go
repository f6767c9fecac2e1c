//go:build linux

package host

import "syscall"

// sysProcAttr makes the kernel SIGKILL a plugin when the node dies, even by
// SIGKILL, so a plugin never outlives its host. Caveat (golang/go#27505):
// Pdeathsig fires when the OS *thread* that forked the child exits; the Go
// runtime only retires threads whose goroutine exits while locked to them
// (runtime.LockOSThread), which the host never does around launches. The
// SDK's Serve also exits when its parent changes, as a second line.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
