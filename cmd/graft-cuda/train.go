//go:build graftcuda

package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/internal/cli"
)

func (a *app) trainCmd() *cobra.Command {
	return cli.TrainCommand("Fine-tune a head on a GPU: the same flags and run directory as graft train",
		func(cmd *cobra.Command, job *cli.TrainJob) error {
			if !strings.HasPrefix(job.Config.Device, "cuda") {
				job.Config.Device = "cuda" // graft-cuda trains on a GPU whatever --device says
			}
			ops, log, err := openGPU(job.Config.Device)
			if err != nil {
				return err
			}
			defer ops.Close()
			defer log.Sync()
			return cli.RunTrain(cmd, job, ops, log, a.out)
		})
}
