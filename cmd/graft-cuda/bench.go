//go:build graftcuda

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/bench"
)

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Micro-benchmarks on the GPU",
	}
	cmd.AddCommand(a.benchHeadCmd())
	return cmd
}

// headBench is one `bench head` result with its GPU.
type headBench struct {
	GPU       gpu.DeviceInfo `json:"gpu"`
	Precision gpu.Precision  `json:"precision"`
	bench.HeadResult
	TFLOPs      float64 `json:"step_tflop_per_s"`
	BudgetBytes int64   `json:"memory_budget_bytes"`
	PeakBytes   int64   `json:"peak_memory_bytes"`
}

func (a *app) benchHeadCmd() *cobra.Command {
	cfg := bench.DefaultHeadConfig()
	batches := []int{cfg.Batch}
	var precision string
	device := api.Device{Kind: api.CUDA}
	var budget int64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "head",
		Short: "Time a CUDA head training step (forward, backward, Adam): ms/step and TFLOP/s",
		Long: "Time a CUDA head training step (forward, backward, Adam) with internal/bench.Head, the same\n" +
			"harness graft bench head runs on the CPU. Its yardstick, the SGEMM on the conv's shape, runs\n" +
			"on the host (internal/util/gemm), not on the GPU.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ordinal, err := gpuOrdinal(device)
			if err != nil {
				return err
			}
			prec, err := gpu.ParsePrecision(precision)
			if err != nil {
				return err
			}
			ops, err := gpu.NewOps(gpu.Options{Ordinal: ordinal, MemoryBudget: budget, Precision: prec})
			if err != nil {
				return err
			}
			defer ops.Close()
			var results []headBench
			for _, b := range batches {
				c := cfg
				c.Batch = b
				res, err := bench.Head(cmd.Context(), ops, c)
				if err != nil {
					return fmt.Errorf("bench head, batch %d: %w", b, err)
				}
				spec := head.DefaultSpec(c.Height, c.Width, c.Channels, c.Classes)
				spec.Filters = c.Filters
				r := headBench{GPU: ops.Info(), Precision: ops.Precision(spec), HeadResult: res, TFLOPs: res.StepGFLOPs / 1e3, BudgetBytes: ops.Budget(), PeakBytes: ops.PeakBytes()}
				results = append(results, r)
				if !asJSON {
					if _, err := fmt.Fprintf(a.out, "head step  %s (%s, compute %s), batch %d on %dx%dx%d -> %d filters -> %d classes\n"+
						"  step:        %8.3f ms/step  %7.2f TFLOP/s  (%d steps, %s)\n"+
						"  host sgemm:  %8s          %7.1f GFLOP/s  (%dx%dx%d, %s, same run)\n",
						res.Device, r.GPU.Name, r.GPU.ComputeCapability, b, c.Height, c.Width, c.Channels, c.Filters, c.Classes,
						res.MsPerStep, r.TFLOPs, res.Steps, r.Precision, "", res.SgemmGFLOPs, res.SgemmShape[0], res.SgemmShape[1], res.SgemmShape[2], res.GEMM); err != nil {
						return err
					}
				}
			}
			if asJSON {
				return a.printJSON(results)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Var(&device, "device", "GPU to benchmark (cuda:N)")
	f.StringVar(&precision, "precision", "", precisionUsage)
	f.Int64Var(&budget, "memory-budget", 0, "device memory budget in bytes (0: 90% of the free memory)")
	f.IntSliceVar(&batches, "batch", batches, "batch sizes, e.g. --batch 32,256")
	f.IntVar(&cfg.Height, "height", cfg.Height, "feature height")
	f.IntVar(&cfg.Width, "width", cfg.Width, "feature width")
	f.IntVar(&cfg.Channels, "channels", cfg.Channels, "feature channels")
	f.IntVar(&cfg.Filters, "filters", cfg.Filters, "conv filters")
	f.IntVar(&cfg.Classes, "classes", cfg.Classes, "classes")
	f.DurationVar(&cfg.MinTime, "min-time", cfg.MinTime, "minimum time for each measurement")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
