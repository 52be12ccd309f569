package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/graft-ml/graft/api"
)

// Run starts `bin worker` with in on its stdin, hands each event it
// writes to progress, passes its log to stderr, and returns the run's
// summary, or the error the worker reported. Cancelling ctx sends the
// worker SIGINT: it stops after its step, its last checkpoint intact.
func Run(ctx context.Context, bin string, in Input, stderr io.Writer, progress func(api.Event)) (*api.Summary, error) {
	b, err := Encode(in)
	if err != nil {
		return nil, err
	}
	args := []string{"worker"}
	if in.Job != "" {
		args = append(args, "--job", in.Job)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stderr = bytes.NewReader(b), stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("worker: start %s: %w", bin, err)
	}
	var summary *api.Summary
	var failed string
	events := NewEvents(out)
	for {
		line, _, err := events.Next()
		if err != nil {
			break
		}
		var e api.Event
		if json.Unmarshal(line, &e) != nil {
			continue // not an event: nothing the protocol lets a worker say
		}
		switch e.Kind {
		case api.EventError:
			failed = e.Message
			continue
		case api.EventDone:
			summary = e.Summary
		}
		progress(e)
	}
	err = cmd.Wait()
	switch {
	case failed != "":
		return nil, &Error{Message: failed, Exit: err}
	case err != nil:
		return nil, &Error{Message: fmt.Sprintf("%s worker: %v", bin, err), Exit: err}
	case summary == nil:
		return nil, fmt.Errorf("worker: %s ended without finishing the run", bin)
	}
	return summary, nil
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
