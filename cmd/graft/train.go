package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/cli"
	"github.com/graft-ml/graft/internal/devices"
)

func (a *app) trainCmd() *cobra.Command {
	return cli.TrainCommand("Fine-tune a new head on a frozen SavedModel with your labelled images (or --resume RUN)",
		func(cmd *cobra.Command, job *cli.TrainJob) error {
			dev := job.Config.Device
			if dev == "auto" {
				gpus, err := devices.GPUs(cmd.Context())
				if err != nil {
					a.log.Info("training on the cpu", zap.String("reason", err.Error()))
					job.Config.Device = "cpu"
				} else {
					a.log.Info("training on a GPU", zap.String("gpu", gpus[0].Name))
					dev = "cuda"
				}
			}
			if strings.HasPrefix(dev, "cuda") {
				return a.handToGraftCUDA(cmd)
			}
			return cli.RunTrain(cmd, job, nil, a.log, a.out)
		})
}

// handToGraftCUDA runs the same command line in graft-cuda, which links
// CUDA (graft never does), streaming its output.
func (a *app) handToGraftCUDA(cmd *cobra.Command) error {
	bin, err := devices.CUDABinary()
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	sub := exec.CommandContext(cmd.Context(), bin, a.args...)
	sub.Stdin, sub.Stdout, sub.Stderr = os.Stdin, a.out, os.Stderr
	sub.Cancel = func() error { return sub.Process.Signal(os.Interrupt) }
	a.log.Info("handing the job to graft-cuda", zap.String("binary", bin))
	err = sub.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == devices.ExitNoGPU {
		return fmt.Errorf("train: %w: graft-cuda found no usable GPU (see its message above); use --device cpu or auto", devices.ErrNoGPU)
	}
	if err != nil {
		return fmt.Errorf("train: graft-cuda: %w", err)
	}
	return nil
}
