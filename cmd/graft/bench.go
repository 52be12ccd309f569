package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/bench"
	"github.com/graft-ml/graft/internal/gemm"
)

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Micro-benchmarks, each reported against a yardstick measured in the same run",
	}
	cmd.AddCommand(a.benchHeadCmd(), a.benchBackboneCmd())
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

func (a *app) benchBackboneCmd() *cobra.Command {
	var o native.Options
	var batch int
	var minTime time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "backbone MODEL",
		Short: "Time a SavedModel on the native engine: images/s, GFLOP/s, and conv layers against the same-run SGEMM",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bb, err := native.Open(args[0], o)
			if err != nil {
				return err
			}
			defer bb.Close()
			res, err := bench.Backbone(cmd.Context(), bb, batch, minTime)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			_, err = fmt.Fprintf(a.out, "backbone %s, batch %d, %d runs (%s gemm)\n"+
				"  model:  %8.1f images/s  %7.1f GFLOP/s\n"+
				"  convs:  %8.0f%% of time   %7.1f GFLOP/s\n"+
				"  sgemm:  %8s           %7.1f GFLOP/s  (%dx%dx%d, largest conv %s, same run)\n"+
				"  ratio:  %.2f of the sgemm rate\n",
				args[0], res.Batch, res.Runs, gemm.Backend, res.ImagesPerSec, res.GFLOPs, 100*res.ConvShare, res.ConvGFLOPs,
				"", res.SgemmGFLOPs, res.SgemmShape[0], res.SgemmShape[1], res.SgemmShape[2], res.LargestConv, res.Ratio)
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&batch, "batch", 32, "images per forward pass")
	f.StringVar(&o.Signature, "signature", "serving_default", "signature key")
	f.StringVar(&o.Tap, "tap", "", "stop at this tensor instead of the signature output")
	f.DurationVar(&minTime, "min-time", 3*time.Second, "minimum time for each measurement")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
