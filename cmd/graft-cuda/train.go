//go:build graftcuda

package main

import (
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/cli"
)

func (a *app) trainCmd() *cobra.Command {
	var precision string
	cmd := cli.TrainCommand("Fine-tune a head on a GPU: the same flags and run directory as graft train",
		func(cmd *cobra.Command, job *cli.TrainJob) error {
			if !strings.HasPrefix(job.Config.Device, "cuda") {
				job.Config.Device = "cuda" // graft-cuda trains on a GPU whatever --device says
			}
			ops, log, err := openGPU(job.Config.Device, precision)
			if err != nil {
				return err
			}
			defer ops.Close()
			defer log.Sync()
			log.Info("gpu", zap.String("device", ops.Device()), zap.String("precision", string(ops.Mode())))
			return cli.RunTrain(cmd, job, ops, log, a.out)
		})
	cmd.Flags().StringVar(&precision, "precision", "", precisionUsage)
	return cmd
}
