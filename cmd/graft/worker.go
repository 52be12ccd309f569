package main

import (
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/cli"
)

// workerCmd is the hidden `graft worker` the daemon runs for CPU jobs.
func (a *app) workerCmd() *cobra.Command {
	return cli.WorkerCommand("Run one job for graft serve: the worker protocol's input on stdin, JSON-lines events out", a.out,
		func(spec api.RunSpec, log *zap.Logger) (head.Ops, func(), error) {
			p, err := head.ParsePrecision(spec.Precision)
			if err != nil {
				return nil, nil, err
			}
			ops, err := cli.CPUOps(p, log)
			return ops, nil, err
		})
}
