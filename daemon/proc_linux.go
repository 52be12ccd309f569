package daemon

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// workerAttr puts a worker in its own process group (a terminal's ^C goes
// to the daemon, which stops workers itself) and kills it when the daemon
// dies, so that no orphan keeps writing a run the next daemon resumes.
func workerAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// isWorker reports whether pid is alive and is the worker of job id.
func isWorker(pid int, id string) bool {
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
