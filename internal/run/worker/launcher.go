package worker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/extract/shard"
)

// A Launcher starts one attempt of a job as a worker and hands back its
// event stream and its controls. Whoever launches owns everything else
// (the daemon's supervisor decides when to start and retry, records the
// attempt, judges the end; graft train --device cuda renders the events):
// both read the events with Follow. The default is LocalLauncher (a
// subprocess of this host); another implementation (daemon/raylaunch: a
// Ray cluster) plugs into the daemon through its Options.Launcher.
type Launcher interface {
	// Launch starts the worker for one attempt. An error means it never
	// started; wrap syscall errnos (EMFILE, ENOMEM, ENOSPC, ...) so that
	// a start refused for lack of a resource is retried without counting
	// against the job.
	Launch(l Launch) (Handle, error)
}

// Kind is the worker binary a job needs.
type Kind string

// Worker kinds: `graft worker` for CPU jobs, `graft-cuda worker` for GPU
// jobs.
const (
	CPU  Kind = "cpu"
	CUDA Kind = "cuda"
)

// Launch is what a launcher gets for one attempt.
type Launch struct {
	JobID   string // the job's id
	Attempt int    // 1 for the first attempt
	Kind    Kind   // which worker binary
	// Spec is the job's resolved spec: paths inside the daemon's allowed
	// roots, Out the run directory, defaults filled.
	Spec api.RunSpec
	// Input is the worker's stdin (Input, Encoded: the spec, the resume
	// flag, the log options): a launcher passes it on unchanged.
	Input []byte
	// GPUBytes is the device memory the job reserves (0 for CPU jobs);
	// HostBytes the host memory it needs (head, optimizer, step scratch,
	// resident features), both sized at submission.
	GPUBytes, HostBytes int64
	// Dir is the worker's working directory (the daemon's data directory).
	Dir string
	// Log receives the worker's log (its stderr): the job's log file.
	Log io.Writer
	// Reattach is set when this attempt was started by an earlier daemon
	// (see Reattacher): the launcher attaches to it, starting nothing.
	Reattach bool
	// Placed, when set, is called with the name of the node the worker
	// runs on once the launcher knows it (a cluster schedules later).
	Placed func(node string)
	// Shard, when set, is the shard (and its try) this worker extracts
	// for attempt Attempt of the job: a launcher names it apart.
	Shard *shard.Task
}

// Reattacher is a Launcher whose workers outlive the daemon (a cluster's
// jobs): a daemon killed and restarted attaches to the attempts still
// running instead of starting them twice.
type Reattacher interface {
	Launcher
	// Started reports whether attempt n of the job was already started,
	// by this daemon or one before it (the launcher names attempts after
	// job and attempt). Launch with Reattach then attaches to it.
	Started(jobID string, attempt int) (bool, error)
}

// ErrGone is a Launch with Reattach whose worker the launcher no longer
// knows: the attempt is closed and a new one started.
var ErrGone = errors.New("the attempt's worker is gone")

// Remote is implemented by a Handle whose worker is not a local process: its id
// on the cluster, recorded with the attempt.
type Remote interface {
	LaunchID() string
}

// Handle is one started attempt's worker.
type Handle interface {
	// Events is the worker's stdout: the protocol's JSON lines, EOF when
	// the worker is gone. The supervisor reads it to the end before Wait.
	Events() io.Reader
	// PID is the local process id (recorded so that a restarted daemon
	// can kill a stray worker), 0 when the worker is not a local process.
	PID() int
	// Terminate asks the worker to stop after its current step (SIGTERM);
	// Kill stops it at once (SIGKILL). Both may be called after the end.
	Terminate()
	Kill()
	// Wait waits for the end once Events is drained.
	Wait() Exit
}

// Exit is how a worker process ended.
type Exit struct {
	// Err is nil when the worker exited with status 0.
	Err error
	// Signaled is true when a signal (or the cluster) killed it, as
	// opposed to the worker exiting with an error status of its own.
	Signaled bool
}

// LocalLauncher runs workers as subprocesses: `graft worker` (CPUPath)
// for CPU jobs, `graft-cuda worker` (CUDAPath) for GPU jobs, each in its
// own process group, killed when the process that started it dies.
type LocalLauncher struct {
	CPUPath, CUDAPath string
	// Args are extra arguments for every worker (tests slow steps).
	Args []string
	// FullEnv passes the whole environment on (graft train's own worker:
	// the user's shell); else a worker gets only what Env keeps (the
	// daemon's: no GRAFT_TOKEN).
	FullEnv bool
}

// Launch implements Launcher.
func (ll *LocalLauncher) Launch(l Launch) (Handle, error) {
	bin := ll.CPUPath
	if l.Kind == CUDA {
		if ll.CUDAPath == "" {
			return nil, fmt.Errorf("job %s wants a GPU but this daemon has no graft-cuda worker (start graft serve with --cuda-worker PATH)", l.JobID)
		}
		bin = ll.CUDAPath
	}
	args := []string{"worker"}
	if l.JobID != "" {
		args = append(args, "--job", l.JobID)
	}
	cmd := exec.Command(bin, append(args, ll.Args...)...)
	cmd.Stdin = bytes.NewReader(l.Input)
	cmd.Dir = l.Dir
	cmd.Env = os.Environ()
	if !ll.FullEnv {
		cmd.Env = Env(cmd.Env)
	}
	if n := l.Spec.Threads; n > 0 {
		// The job's threads from the process's start (the worker sets
		// GOMAXPROCS again once it has read its input).
		for k, v := range ThreadEnv(n) {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.SysProcAttr = procAttr()
	cmd.Stderr = l.Log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := start(cmd); err != nil {
		return nil, fmt.Errorf("worker: start %s: %w", bin, err)
	}
	return &localWorker{cmd: cmd, stdout: stdout}, nil
}

// ThreadEnv is a worker's environment for n threads: Go's and the BLAS's
// (OpenBLAS sums in an order that depends on them, so a run is
// reproduced with the same count). Later entries win over the daemon's.
func ThreadEnv(n int) map[string]string {
	s := strconv.Itoa(n)
	return map[string]string{"GOMAXPROCS": s, "OPENBLAS_NUM_THREADS": s, "OMP_NUM_THREADS": s}
}

type localWorker struct {
	cmd    *exec.Cmd
	stdout io.Reader
}

func (w *localWorker) Events() io.Reader { return w.stdout }
func (w *localWorker) PID() int          { return w.cmd.Process.Pid }

// The signals go to the process group: whatever the worker started ends
// with it.
func (w *localWorker) Terminate() { syscall.Kill(-w.PID(), syscall.SIGTERM) }
func (w *localWorker) Kill()      { syscall.Kill(-w.PID(), syscall.SIGKILL) }

func (w *localWorker) Wait() Exit {
	err := w.cmd.Wait()
	var ee *exec.ExitError
	signaled := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled()
	return Exit{Err: err, Signaled: signaled}
}
