package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/bench"
)

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Micro-benchmarks, each reported against a yardstick measured in the same run",
	}
	cmd.AddCommand(a.benchHeadCmd())
	return cmd
}

func (a *app) benchHeadCmd() *cobra.Command {
	cfg := bench.DefaultHeadConfig()
	var device string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "head",
		Short: "Time a head training step (forward, backward, Adam) and the bare SGEMM on the conv's shape",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if device != "cpu" {
				return fmt.Errorf("bench head: device %q: this graft computes on the cpu only; GPU benchmarks run in graft-cuda", device)
			}
			a.log.Info("benchmarking head step", zap.Int("batch", cfg.Batch), zap.Ints("features", []int{cfg.Height, cfg.Width, cfg.Channels}), zap.Int("filters", cfg.Filters), zap.Int("classes", cfg.Classes))
			res, err := bench.Head(cmd.Context(), head.NewCPUOps(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			_, err = fmt.Fprintf(a.out, "head step  %s, batch %d on %dx%dx%d -> %d filters -> %d classes (%s gemm)\n"+
				"  step:   %8.1f ms/step  %7.1f GFLOP/s  (%d steps)\n"+
				"  sgemm:  %8s          %7.1f GFLOP/s  (%dx%dx%d, same run)\n"+
				"  ratio:  %.2f of the sgemm rate\n",
				res.Device, res.Batch, cfg.Height, cfg.Width, cfg.Channels, cfg.Filters, cfg.Classes, res.GEMM,
				res.MsPerStep, res.StepGFLOPs, res.Steps, "", res.SgemmGFLOPs, res.SgemmShape[0], res.SgemmShape[1], res.SgemmShape[2], res.Ratio)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&device, "device", "cpu", "device to benchmark")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "batch size")
	f.IntVar(&cfg.Height, "height", cfg.Height, "feature height")
	f.IntVar(&cfg.Width, "width", cfg.Width, "feature width")
	f.IntVar(&cfg.Channels, "channels", cfg.Channels, "feature channels")
	f.IntVar(&cfg.Filters, "filters", cfg.Filters, "conv filters")
	f.IntVar(&cfg.Classes, "classes", cfg.Classes, "classes")
	f.DurationVar(&cfg.MinTime, "min-time", cfg.MinTime, "minimum time for each measurement")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
