//go:build !linux

package sched

// isWorker cannot tell without /proc; a stray worker of a killed daemon
// is then left to finish on its own.
func isWorker(pid int, id string, start uint64) bool { return false }

func procStart(pid int) uint64 { return 0 }
