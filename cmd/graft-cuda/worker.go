//go:build graftcuda

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/train"
)

// workerCmd is the hidden `graft-cuda worker` graft serve runs for GPU
// jobs: the same protocol as `graft worker`, on the job's GPU.
func (a *app) workerCmd() *cobra.Command {
	var spec, job, logFormat, precision string
	cmd := &cobra.Command{
		Use:    "worker [--spec FILE]",
		Short:  "Run one GPU job for graft serve: spec (JSON) in, JSON-lines events out",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := readSpec(spec)
			if err != nil {
				return err
			}
			var c train.Config
			if err := json.Unmarshal(raw, &c); err != nil {
				return err
			}
			ops, log, err := openGPU(c.Device, precision)
			if err != nil {
				return err
			}
			defer ops.Close()
			log = log.With(zap.String("job", job))
			return daemon.Work(cmd.Context(), bytes.NewReader(raw), a.out, daemon.WorkerOptions{Log: log, Ops: ops})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec, "spec", "-", "job spec file (train.Config JSON); - reads stdin")
	f.StringVar(&job, "job", "", "the job id")
	f.StringVar(&logFormat, "log-format", "json", "logs are JSON lines on stderr")
	f.StringVar(&precision, "precision", "", precisionUsage)
	return cmd
}

func readSpec(path string) ([]byte, error) {
	if path == "" || path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}
