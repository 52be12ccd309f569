package sched

import (
	"os/exec"
	"testing"
	"time"
)

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
