package daemon

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
	cmd.SysProcAttr = workerAttr()
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // ends locked: Go retires this thread
		started <- startWorker(cmd)
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

// Issue 11, defect 17: a leftover worker is recognised by its start time
// as well as its command line, so a later process that reuses the PID
// with a look-alike command line is left alone.
func TestStrayWorkerIdentifiedByStartTime(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30", "worker", "job-000042")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	start := procStart(pid)
	if start == 0 {
		t.Fatal("no start time in /proc")
	}
	// cmd.Start returns once the child is forked, not once it has run
	// exec: until then /proc shows the test binary's command line.
	recognised := false
	for deadline := time.Now().Add(5 * time.Second); !recognised && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		recognised = isWorker(pid, "job-000042", start)
	}
	if !recognised {
		t.Error("the worker itself was not recognised")
	}
	if isWorker(pid, "job-000042", start-1) {
		t.Error("a process with the PID but another start time was taken for the worker")
	}
	if isWorker(pid, "job-000043", start) {
		t.Error("another job's worker was taken for this one")
	}
}
