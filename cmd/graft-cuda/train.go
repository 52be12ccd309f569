//go:build graftcuda

package main

import (
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/logging"
	"github.com/graft-ml/graft/internal/cli"
)

func (a *app) trainCmd() *cobra.Command {
	return cli.TrainCommand("Fine-tune a head on a GPU: the same flags and run directory as graft train",
		func(cmd *cobra.Command, tj *cli.TrainJob) error {
			j, err := tj.Resolve()
			if err != nil {
				return err
			}
			if !j.Device.IsCUDA() { // graft-cuda trains on a GPU whatever --device says
				j.Device = api.Device{Kind: api.CUDA}
			}
			ops, err := openGPU(j.RunSpec.Device, j.HeadPrecision)
			if err != nil {
				return err
			}
			defer ops.Close()
			log, err := logging.New(os.Stderr, logging.Auto, "info")
			if err != nil {
				return err
			}
			defer log.Sync()
			log.Info("gpu", zap.String("device", ops.Device()), zap.String("precision", string(ops.Mode())))
			return cli.RunTrain(cmd, tj, j, ops, log, a.out)
		})
}
