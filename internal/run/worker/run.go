package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"

	"github.com/graft-ml/graft/api"
)

// Run starts `bin worker` (a LocalLauncher of kind) with in on its
// stdin, hands each event it writes to progress, passes its log to
// stderr, and returns the run's summary, or the error the worker
// reported. Cancelling ctx asks the worker to stop (SIGTERM): it stops
// after its step, its last checkpoint intact.
func Run(ctx context.Context, bin string, kind Kind, in Input, stderr io.Writer, progress func(api.Event)) (*api.Summary, error) {
	b, err := Encode(in)
	if err != nil {
		return nil, err
	}
	ll := &LocalLauncher{CPUPath: bin, CUDAPath: bin, FullEnv: true}
	return RunOn(ctx, ll, Launch{JobID: in.Job, Attempt: 1, Kind: kind, Spec: in.Spec, Input: b, Log: stderr}, bin, progress)
}

// RunOn runs the worker l through lr (a local process, a Ray job) to its
// end, as Run does; name names the worker in errors.
func RunOn(ctx context.Context, lr Launcher, l Launch, name string, progress func(api.Event)) (*api.Summary, error) {
	h, err := lr.Launch(l)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, h.Terminate)
	end := Follower{Event: func(e api.Event, _ []byte) {
		if e.Kind != api.EventError {
			progress(e)
		}
	}}.Follow(h.Events())
	exit := h.Wait()
	stop()
	switch {
	case end.Err != "":
		return nil, &Error{Message: end.Err, Exit: exit.Err}
	case exit.Err != nil:
		return nil, &Error{Message: fmt.Sprintf("%s worker: %v", name, exit.Err), Exit: exit.Err}
	case end.Summary == nil:
		return nil, fmt.Errorf("worker: %s ended without finishing the run", name)
	}
	return end.Summary, nil
}

// Error is a worker's failure: the message it reported (or how it died)
// and its exit.
type Error struct {
	Message string
	Exit    error
}

func (e *Error) Error() string { return e.Message }

// ExitCode is the worker's exit status, -1 when it did not exit by
// itself.
func (e *Error) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(e.Exit, &ee) {
		return ee.ExitCode()
	}
	return -1
}
