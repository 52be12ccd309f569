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
		func(api.RunSpec, *zap.Logger) (head.Ops, func(), error) { return nil, nil, nil })
}
