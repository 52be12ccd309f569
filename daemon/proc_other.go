//go:build !linux

package daemon

import "syscall"

func workerAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// isWorker cannot tell without /proc; a stray worker of a killed daemon
// is then left to finish on its own.
func isWorker(pid int, id string) bool { return false }
