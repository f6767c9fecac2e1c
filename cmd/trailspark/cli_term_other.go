//go:build !linux

package main

import "os"

// isTerminal is only implemented on Linux; elsewhere the password prompt echoes.
func isTerminal(*os.File) bool { return false }

func disableEcho(*os.File) (restore func()) { return func() {} }
