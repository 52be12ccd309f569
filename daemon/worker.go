package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/rundir"
	"github.com/graft-ml/graft/internal/train"
)

// The worker protocol. The daemon starts `graft worker --job ID` with the
// job's train.Config as JSON on stdin; the worker runs it (resuming when
// the run directory holds a checkpoint), writes one train.Event per line
// on stdout, logs JSON to stderr, and on failure ends stdout with
// {"event":"error","message":...} and a non-zero exit. SIGTERM stops it
// after the current step; the last epoch checkpoint stays intact.

// ErrorEvent is the last line of a worker that failed.
const ErrorEvent = "error"

// WorkerLine is one line of a worker's stdout: a train.Event, or the
// error event with its message.
type WorkerLine struct {
	train.Event
	Message string `json:"message,omitempty"`
}

// WorkerOptions tune a worker.
type WorkerOptions struct {
	Log *zap.Logger
	// StepDelay sleeps after every training step: tests and benchmarks use
	// it to make tiny jobs last long enough to interrupt.
	StepDelay time.Duration
	// Ops is the device to train on; nil means the CPU (graft-cuda's
	// worker passes its CUDA ops).
	Ops head.Ops
}

// Work is `graft worker`: it reads a job spec from spec, trains, and
// streams events to out.
func Work(ctx context.Context, spec io.Reader, out io.Writer, o WorkerOptions) error {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	privateFiles() // the run directory and cache entries it writes
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(l WorkerLine) {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(l); err != nil {
			o.Log.Warn("worker: write event", zap.Error(err))
		}
	}
	err := work(ctx, spec, o, func(e train.Event) {
		emit(WorkerLine{Event: e})
		if e.Event == "step" && o.StepDelay > 0 {
			select {
			case <-time.After(o.StepDelay):
			case <-ctx.Done():
			}
		}
	})
	if err != nil {
		emit(WorkerLine{Event: train.Event{Event: ErrorEvent}, Message: err.Error()})
	}
	return err
}

func work(ctx context.Context, spec io.Reader, o WorkerOptions, progress func(train.Event)) error {
	dec := json.NewDecoder(spec)
	dec.DisallowUnknownFields()
	var cfg train.Config
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("worker: job spec: %w", err)
	}
	if cfg.Out == "" {
		return fmt.Errorf("worker: job spec: out: required")
	}
	_, err := os.Stat(filepath.Join(cfg.Out, rundir.LastCkpt))
	resume := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("worker: %w", err)
	}
	o.Log.Info("worker starting", zap.String("run", cfg.Out), zap.Bool("resume", resume), zap.Int("pid", os.Getpid()))
	s, err := train.Run(ctx, cfg, train.Options{Ops: o.Ops, Log: o.Log, Progress: progress, Resume: resume})
	if err != nil {
		return err
	}
	o.Log.Info("worker done", zap.String("run", cfg.Out), zap.Int("best_epoch", s.BestEpoch), zap.Float64("best_val_accuracy", s.BestValAccuracy))
	return nil
}
