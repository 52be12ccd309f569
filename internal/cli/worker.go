package cli

import (
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon/raylaunch"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/logging"
	"github.com/graft-ml/graft/internal/run/worker"
)

// OpenOps opens the device a worker trains j on and returns how to close
// it; nil ops is the CPU.
type OpenOps func(j api.RunSpec, log *zap.Logger) (head.Ops, func(), error)

// WorkerCommand is the hidden `worker` of both binaries: the worker
// protocol (internal/run/worker) on stdin and stdout, logs on stderr as the
// input's log options say.
func WorkerCommand(short string, out io.Writer, open OpenOps) *cobra.Command {
	var spec, jobID, logFormat string
	var stepDelay, shardDelay time.Duration
	var fullDiskAt int
	cmd := &cobra.Command{
		Use:    "worker [--spec FILE]",
		Short:  short,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r io.Reader = os.Stdin
			if spec != "" && spec != "-" {
				f, err := os.Open(spec)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			in, err := worker.Decode(r)
			if err != nil {
				return err
			}
			if stepDelay > 0 {
				in.StepDelay = stepDelay
			}
			if shardDelay > 0 {
				in.ShardDelay = shardDelay
			}
			if in.Job == "" {
				in.Job = jobID
			}
			format, level := in.Log.Format, in.Log.Level
			if format == "" {
				format = logFormat // a version-0 input: the command line's
			}
			if level == "" {
				level = "info"
			}
			log, err := logging.New(os.Stderr, format, level)
			if err != nil {
				return err
			}
			defer log.Sync()
			if in.Job != "" {
				log = log.With(zap.String("job", in.Job))
			}
			log.Debug("worker input", zap.String("log_format", format), zap.String("log_level", level), zap.Stringer("device", in.Spec.Device))
			var ops head.Ops
			if in.Shard == nil { // a shard extracts only: no head, no device ops
				o, closeOps, err := open(in.Spec, log)
				if err != nil {
					return err
				}
				if closeOps != nil {
					defer closeOps()
				}
				ops = o
			}
			return worker.Work(cmd.Context(), in, out, worker.Options{Log: log, Ops: ops, FullDiskAt: fullDiskAt, RayShards: raylaunch.ShardRunner})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec, "spec", "-", "the worker's input (JSON, see internal/run/worker); - reads stdin")
	f.StringVar(&jobID, "job", "", "the job id (for logs and for the daemon to recognise its workers)")
	f.DurationVar(&stepDelay, "step-delay", 0, "sleep after every step (tests)")
	f.DurationVar(&shardDelay, "test-shard-delay", 0, "tests only: a shard's worker sleeps after every 32 samples it extracts")
	f.StringVar(&logFormat, "log-format", "json", "log format for an input without log options (the input's win)")
	f.IntVar(&fullDiskAt, "test-full-disk-at", 0, "tests only: a run that is not resumed fails to write this epoch's checkpoint with ENOSPC")
	return cmd
}
