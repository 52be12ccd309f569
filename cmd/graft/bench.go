package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/bench"
	"github.com/graft-ml/graft/internal/util/gemm"
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
	var device, precision string
	var threads int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "head",
		Short: "Time a head training step (forward, backward, Adam) and the bare SGEMM on the conv's shape",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if device != "cpu" {
				return fmt.Errorf("bench head: device %q: this graft computes on the cpu only; GPU benchmarks run in graft-cuda", device)
			}
			if threads < 0 {
				return fmt.Errorf("bench head: --threads %d: use 0 (all cores) or more", threads)
			}
			// The head's kernels split their work over GOMAXPROCS
			// goroutines, so this bounds the step's threads as a
			// peer's intra-op setting does.
			if threads > 0 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
			}
			a.log.Info("benchmarking head step", zap.Int("batch", cfg.Batch), zap.Ints("features", []int{cfg.Height, cfg.Width, cfg.Channels}), zap.Int("filters", cfg.Filters), zap.Int("classes", cfg.Classes))
			ops, err := cpuOps(precision)
			if err != nil {
				return fmt.Errorf("bench head: %w", err)
			}
			res, err := bench.Head(cmd.Context(), ops, cfg)
			if err != nil {
				return err
			}
			res.Threads = runtime.GOMAXPROCS(0)
			if asJSON {
				return a.printJSON(res)
			}
			conv := ""
			if res.Conv != "" {
				conv = ", conv " + res.Conv
			}
			_, err = fmt.Fprintf(a.out, "head step  %s, batch %d on %dx%dx%d -> %d filters -> %d classes (%s gemm, %s%s, %d threads)\n"+
				"  step:   %8.1f ms/step  %7.1f GFLOP/s  (%d steps)\n"+
				"  sgemm:  %8s          %7.1f GFLOP/s  (%dx%dx%d, same run)\n",
				res.Device, res.Batch, cfg.Height, cfg.Width, cfg.Channels, cfg.Filters, cfg.Classes, res.GEMM, res.Precision, conv, res.Threads,
				res.MsPerStep, res.StepGFLOPs, res.Steps, "", res.SgemmGFLOPs, res.SgemmShape[0], res.SgemmShape[1], res.SgemmShape[2])
			if err == nil && res.BF16GFLOPs > 0 {
				_, err = fmt.Fprintf(a.out, "  bf16:   %8s          %7.1f GFLOP/s  (the same shape on the %s kernel, rounding and packing included, same run)\n", "", res.BF16GFLOPs, res.BF16Kernel)
			}
			if err == nil {
				_, err = fmt.Fprintf(a.out, "  ratio:  %.2f of the sgemm rate\n", res.Ratio)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&device, "device", "cpu", "device to benchmark")
	f.StringVar(&precision, "precision", "fp32", precisionUsage)
	f.IntVar(&threads, "threads", 0, "threads the step may use (GOMAXPROCS); 0: all cores")
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

// engineRun is one engine's line of graft bench backbone.
type engineRun struct {
	Engine       string  `json:"engine"`
	Threads      int     `json:"threads"`
	ImagesPerSec float64 `json:"images_per_s"`
	Runs         int     `json:"runs"`
	// Native is the native engine's per-op profile against the same-run
	// SGEMM.
	Native *bench.BackboneResult `json:"native_profile,omitempty"`
}

func (a *app) benchBackboneCmd() *cobra.Command {
	var o engine.Options
	var engines []string
	var batch int
	var minTime time.Duration
	var asJSON, profile bool
	cmd := &cobra.Command{
		Use:   "backbone MODEL",
		Short: "Time a SavedModel on one or more engines: images/s, and the native engine's conv layers against the same-run SGEMM",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Threads < 0 {
				return fmt.Errorf("bench backbone: --threads %d: use 0 (all cores) or more", o.Threads)
			}
			for _, e := range engines {
				if err := engine.Check(e); err != nil {
					return err
				}
			}
			runs, err := benchEngines(cmd.Context(), engines, args[0], o, batch, minTime, profile)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(runs)
			}
			fmt.Fprintf(a.out, "backbone %s, batch %d (%s gemm)\n", args[0], batch, gemm.Backend)
			for _, r := range runs {
				threads := "all cores"
				if r.Threads > 0 {
					threads = fmt.Sprintf("%d threads", r.Threads)
				}
				fmt.Fprintf(a.out, "  %-11s %8.1f images/s  (%d runs, %s)", r.Engine+":", r.ImagesPerSec, r.Runs, threads)
				if r.Engine != runs[0].Engine && runs[0].ImagesPerSec > 0 {
					fmt.Fprintf(a.out, "  %.2fx %s", r.ImagesPerSec/runs[0].ImagesPerSec, runs[0].Engine)
				}
				fmt.Fprintln(a.out)
			}
			for _, r := range runs {
				if res := r.Native; res != nil {
					_, err := fmt.Fprintf(a.out, "native engine profile:\n"+
						"  model:  %8.1f GFLOP/s\n"+
						"  convs:  %8.0f%% of time   %7.1f GFLOP/s\n"+
						"  sgemm:  %8s           %7.1f GFLOP/s  (%dx%dx%d, largest conv %s, same run)\n"+
						"  ratio:  %.2f of the sgemm rate\n",
						res.GFLOPs, 100*res.ConvShare, res.ConvGFLOPs,
						"", res.SgemmGFLOPs, res.SgemmShape[0], res.SgemmShape[1], res.SgemmShape[2], res.LargestConv, res.Ratio)
					if err != nil || len(res.Slowest) == 0 {
						return err
					}
					fmt.Fprintln(a.out, "  slowest nodes (share of the time, GFLOP/s as im2col counts them, output shape):")
					for _, n := range res.Slowest {
						rate := "-"
						if n.GFLOPs > 0 {
							rate = fmt.Sprintf("%.1f", n.GFLOPs)
						}
						fmt.Fprintf(a.out, "    %5.1f%%  %-22s %7s  %-18s %s\n", 100*n.Share, n.Op, rate, fmt.Sprint(n.Output), n.Name)
					}
					return nil
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&engines, "engine", []string{engine.Native}, "engines to time, side by side: native, tensorflow or native,tensorflow")
	f.IntVar(&batch, "batch", 32, "images per forward pass")
	f.StringVar(&o.Signature, "signature", "serving_default", "signature key")
	f.StringVar(&o.Tap, "tap", "", "stop at this tensor instead of the signature output")
	f.StringVar(&o.Device, "device", "cpu", "device for the tensorflow engine: cpu, cuda, cuda:N or auto")
	f.IntVar(&o.Threads, "threads", 0, "threads each engine may use (native: GOMAXPROCS; tensorflow: intra- and inter-op threads); 0: all cores")
	f.DurationVar(&minTime, "min-time", 3*time.Second, "minimum time for each measurement (the engines take ten turns each, a batch at least)")
	f.BoolVar(&profile, "profile", true, "also profile the native engine per op against the same-run SGEMM, and list its slowest nodes (runs the batches again)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// benchEngines times the engines side by side, their batches in turns
// (bench.Throughputs); for the native one it adds, when profile is set,
// the per-op profile and its same-run SGEMM yardstick.
func benchEngines(ctx context.Context, names []string, model string, o engine.Options, batch int, minTime time.Duration, profile bool) ([]engineRun, error) {
	if o.Threads > 0 { // the native engine's threads (TensorFlow's are its own)
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.Threads))
	}
	bbs := make([]backbone.Backbone, 0, len(names))
	defer func() {
		for _, bb := range bbs {
			bb.Close()
		}
	}()
	for _, name := range names {
		bb, err := engine.Open(name, model, o)
		if err != nil {
			return nil, err
		}
		bbs = append(bbs, bb)
	}
	rates, err := bench.Throughputs(ctx, bbs, batch, minTime)
	if err != nil {
		return nil, err
	}
	runs := make([]engineRun, len(names))
	for i, name := range names {
		runs[i] = engineRun{Engine: name, Threads: o.Threads, ImagesPerSec: rates[i].ImagesPerSec, Runs: rates[i].Runs}
		if nb, ok := bbs[i].(*native.Backbone); ok && profile {
			res, err := bench.Backbone(ctx, nb, batch, minTime)
			if err != nil {
				return nil, err
			}
			runs[i].Native = &res
		}
	}
	return runs, nil
}

// precisionUsage is the CPU's --precision help (graft-cuda has its own).
const precisionUsage = "arithmetic of the head's conv GEMMs: fp32 (the default; auto is fp32 on the CPU) or bf16 (the conv head's GEMM inputs rounded to bfloat16, float32 sums and weights; needs a CPU with AVX512_BF16 or AMX; a linear head stays fp32)"

// cpuOps is the CPU head at the --precision value s.
func cpuOps(s string) (*head.CPUOps, error) {
	p, err := head.ParsePrecision(s)
	if err != nil {
		return nil, err
	}
	return head.NewCPUOpsAt(p)
}
