package sched

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// procStart is pid's start time in clock ticks since boot (field 22 of
// /proc/PID/stat), 0 when unknown.
func procStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // from field 3, the state
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// isWorker reports whether pid is alive and is the worker of job id that
// started at start (clock ticks since boot; 0: unknown, the command line
// alone decides).
func isWorker(pid int, id string, start uint64) bool {
	if start != 0 && procStart(pid) != start {
		return false // another process now has the PID
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := bytes.Split(b, []byte{0})
	hasWorker, hasID := false, false
	for _, a := range args {
		hasWorker = hasWorker || string(a) == "worker"
		hasID = hasID || string(a) == id
	}
	return hasWorker && hasID
}
