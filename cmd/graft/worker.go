package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/daemon"
)

// workerCmd is the hidden `graft worker` the daemon runs for CPU jobs.
func (a *app) workerCmd() *cobra.Command {
	var spec, job string
	var o daemon.WorkerOptions
	cmd := &cobra.Command{
		Use:    "worker [--spec FILE]",
		Short:  "Run one job for graft serve: spec (JSON) in, JSON-lines events out",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in io.Reader = os.Stdin
			if spec != "" && spec != "-" {
				f, err := os.Open(spec)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			o.Log = a.log
			if job != "" {
				o.Log = a.log.With(zap.String("job", job))
			}
			return daemon.Work(cmd.Context(), in, a.out, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec, "spec", "-", "job spec file (train.Config JSON); - reads stdin")
	f.StringVar(&job, "job", "", "the job id (for logs and for the daemon to recognise its workers)")
	f.DurationVar(&o.StepDelay, "step-delay", 0, "sleep after every step (tests)")
	return cmd
}
