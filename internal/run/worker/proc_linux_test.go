package worker

import (
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// Issue 11, defect 17: a worker outlives the thread that asked for it
// (the parent-death signal follows the forking thread, and Go retires a
// thread whose locked goroutine ends).
func TestWorkerOutlivesItsStartingThread(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = procAttr()
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // ends locked: Go retires this thread
		started <- start(cmd)
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("the worker died with the thread that started it: %v", err)
	case <-time.After(time.Second):
	}
}
