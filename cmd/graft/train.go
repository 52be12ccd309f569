package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/base/devices"
	"github.com/graft-ml/graft/internal/cli"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/worker"
)

func (a *app) trainCmd() *cobra.Command {
	return cli.TrainCommand("Fine-tune a new head on a frozen SavedModel with your labelled images (or --resume RUN)",
		func(cmd *cobra.Command, tj *cli.TrainJob) error {
			j, err := tj.Resolve()
			if err != nil {
				return err
			}
			if j.Sweep != nil {
				return errors.New("train: the spec is a sweep (it sets sweep): run it with graft sweep --config")
			}
			why := j.DecideAuto(func() error {
				gpus, err := devices.GPUs(cmd.Context())
				if err == nil {
					a.log.Info("training on a GPU", zap.String("gpu", gpus[0].Name))
				}
				return err
			})
			if why != "" && !j.Device.IsCUDA() {
				a.log.Info("training on the cpu", zap.String("reason", why))
			}
			if j.Device.IsCUDA() { // graft-cuda reads the job's precision
				if j.ExtractWorkers > 1 {
					return fmt.Errorf("train: --extract-workers runs the shards on the CPU, beside a CPU run; a %s run extracts in graft-cuda: drop --extract-workers, or pass --device cpu", j.Device)
				}
				return a.trainOnGPU(cmd, tj, j)
			}
			ops, err := cli.CPUOps(j.HeadPrecision, a.log)
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			return cli.RunTrain(cmd, tj, j, ops, a.log, a.out)
		})
}

// trainOnGPU runs the resolved job in `graft-cuda worker` (graft never
// links CUDA), with this command's log options, and renders its events.
func (a *app) trainOnGPU(cmd *cobra.Command, tj *cli.TrainJob, j *job.Job) error {
	bin, err := devices.CUDABinary()
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	a.log.Info("training in graft-cuda", zap.String("binary", bin), zap.String("device", j.Device.String()))
	r := cli.NewRenderer(cmd, a.out)
	in := worker.Input{Spec: j.RunSpec, Resume: tj.Resume != "", MaxImagePixels: tj.MaxImagePixels, CacheMaxBytes: tj.CacheMaxBytes, Log: worker.Log{Format: a.logFormat, Level: a.logLevel}}
	s, err := worker.Run(cmd.Context(), bin, worker.CUDA, in, os.Stderr, r.Progress)
	var we *worker.Error
	if errors.As(err, &we) && we.ExitCode() == devices.ExitNoGPU {
		return fmt.Errorf("train: %w: graft-cuda found no usable GPU (see its message above); use --device cpu or auto", devices.ErrNoGPU)
	}
	if err != nil {
		return fmt.Errorf("train: graft-cuda: %w", err)
	}
	r.Done(a.log, j.Out, s)
	return nil
}
