package worker

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// procAttr puts a worker in its own process group (a terminal's ^C goes
// to its starter, which stops it itself) and kills it when its starter
// dies, so that no orphan keeps writing a run the next daemon resumes.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// The parent-death signal is tied to the thread that forked the child,
// not to the process: a worker started from a thread Go later retires
// would be killed with it. Workers are therefore started from one
// goroutine locked to its thread for the process's lifetime.
var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnReq)
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// start starts cmd from the spawning thread.
func start(cmd *exec.Cmd) error {
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
