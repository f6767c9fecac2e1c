//go:build !linux

package host

import "syscall"

// sysProcAttr: no parent-death signal outside Linux; the SDK's Serve exits
// when its parent process changes instead.
func sysProcAttr() *syscall.SysProcAttr { return nil }
