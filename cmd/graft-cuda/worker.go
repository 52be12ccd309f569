//go:build graftcuda

package main

import (
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/cli"
)

// workerCmd is the hidden `graft-cuda worker` that graft serve (GPU jobs)
// and graft train --device cuda run: the worker protocol, on the job's
// GPU.
func (a *app) workerCmd() *cobra.Command {
	return cli.WorkerCommand("Run one GPU job: the worker protocol's input on stdin, JSON-lines events out", a.out,
		func(spec api.RunSpec, log *zap.Logger) (head.Ops, func(), error) {
			prec, err := gpu.ParsePrecision(spec.Precision)
			if err != nil {
				return nil, nil, err
			}
			ops, err := openGPU(spec.Device, prec)
			if err != nil {
				return nil, nil, err
			}
			log.Info("gpu", zap.String("device", ops.Device()), zap.String("precision", string(ops.Mode())))
			return ops, func() { ops.Close() }, nil
		})
}
