package daemon

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// workerAttr puts a worker in its own process group (a terminal's ^C goes
// to the daemon, which stops workers itself) and kills it when the daemon
// dies, so that no orphan keeps writing a run the next daemon resumes.
func workerAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

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

// The parent-death signal is tied to the thread that forked the child,
// not to the process: a worker started from a thread Go later retires
// would be killed with it. Workers are therefore started from one
// goroutine locked to its thread for the daemon's lifetime.
var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnReq)
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// startWorker starts cmd from the spawning thread.
func startWorker(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd, done}
	return <-done
}
