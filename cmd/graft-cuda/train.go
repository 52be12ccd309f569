//go:build cuda

package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/internal/cli"
)

func (a *app) trainCmd() *cobra.Command {
	return cli.TrainCommand("Fine-tune a head on a GPU: the same flags and run directory as graft train",
		func(cmd *cobra.Command, job *cli.TrainJob) error {
			ordinal := 0
			if n, ok := strings.CutPrefix(job.Config.Device, "cuda:"); ok {
				ordinal, _ = strconv.Atoi(n) // the config's validation names a bad one
			}
			job.Config.Device = "cuda:" + strconv.Itoa(ordinal)
			ops, err := gpu.NewOps(gpu.Options{Ordinal: ordinal})
			if err != nil {
				return err
			}
			defer ops.Close()
			log, err := zap.NewProduction()
			if err != nil {
				return err
			}
			defer log.Sync()
			return cli.RunTrain(cmd, job, ops, log, a.out)
		})
}
