package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/util/gemm"
)

// HeadConfig sizes a head benchmark.
type HeadConfig struct {
	Batch, Height, Width, Channels, Filters, Classes int
	// MinTime is how long each measurement runs at least.
	MinTime time.Duration
}

// DefaultHeadConfig is the reference shape: batch 32 on 7x7x2048
// features, 256 filters, 10 classes.
func DefaultHeadConfig() HeadConfig {
	return HeadConfig{Batch: 32, Height: 7, Width: 7, Channels: 2048, Filters: 256, Classes: 10, MinTime: 3 * time.Second}
}

// HeadResult is one head benchmark.
type HeadResult struct {
	Device string `json:"device"`
	GEMM   string `json:"gemm_backend"`
	// Threads is the GOMAXPROCS the step ran under (set by the caller).
	Threads     int     `json:"threads"`
	Batch       int     `json:"batch"`
	Steps       int     `json:"steps"`
	MsPerStep   float64 `json:"ms_per_step"`
	StepGFLOPs  float64 `json:"step_gflop_per_s"`
	SgemmShape  [3]int  `json:"sgemm_shape"`
	SgemmGFLOPs float64 `json:"sgemm_gflop_per_s"`
	// Ratio is StepGFLOPs / SgemmGFLOPs: the share of the plain GEMM rate
	// the whole training step achieves.
	Ratio float64 `json:"ratio"`
	// Precision is what the conv's GEMMs ran at (the ops' Mode); in bf16
	// BF16GFLOPs is the bare bf16 GEMM on the same shape, same run.
	Precision  head.Precision `json:"precision,omitempty"`
	BF16Kernel string         `json:"bf16_kernel,omitempty"` // "amx" or "avx512-bf16"
	BF16GFLOPs float64        `json:"bf16_gemm_gflop_per_s,omitempty"`
	// Conv is how the CPU head convolved ("winograd-4x4", "taps",
	// "im2col"); StepGFLOPs counts the direct convolution's work
	// whatever it was.
	Conv string `json:"conv_algorithm,omitempty"`
}

// Head times training steps (forward, backward, Adam) of the conv head on
// ops, then the bare SGEMM on the conv's GEMM shape, in the same run.
func Head(ctx context.Context, ops head.Ops, cfg HeadConfig) (HeadResult, error) {
	spec := head.DefaultSpec(cfg.Height, cfg.Width, cfg.Channels, cfg.Classes)
	spec.Filters = cfg.Filters
	opt, _ := head.NewOptimizer(head.Adam)
	m, err := head.New(ops, spec, opt, 1)
	if err != nil {
		return HeadResult{}, err
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	host := make([]float32, cfg.Batch*spec.FeatureSize())
	for i := range host {
		host[i] = float32(rng.NormFloat64())
	}
	feats, err := head.UploadFeatures(ops, spec, host)
	if err != nil {
		return HeadResult{}, err
	}
	defer ops.Free(feats)
	idx, labels := make([]int32, cfg.Batch), make([]int32, cfg.Batch)
	for i := range idx {
		idx[i], labels[i] = int32(i), int32(i%cfg.Classes)
	}
	step := func() error { _, err := m.TrainBatch(feats, idx, labels); return err }
	steps, elapsed, err := repeat(ctx, cfg.MinTime, step)
	if err != nil {
		return HeadResult{}, err
	}
	res := HeadResult{Device: ops.Device(), GEMM: gemm.Backend, Batch: cfg.Batch, Steps: steps}
	if c, ok := ops.(interface{ ConvAlgorithm(head.Spec) string }); ok {
		res.Conv = c.ConvAlgorithm(spec)
	}
	res.MsPerStep = elapsed.Seconds() * 1e3 / float64(steps)
	res.StepGFLOPs = spec.StepFLOPs(cfg.Batch) * float64(steps) / elapsed.Seconds() / 1e9

	mm, nn, kk := cfg.Batch*cfg.Height*cfg.Width, cfg.Filters, spec.Kernel*spec.Kernel*cfg.Channels
	res.SgemmShape = [3]int{mm, nn, kk}
	a, b, c := make([]float32, mm*kk), make([]float32, kk*nn), make([]float32, mm*nn)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	calls, elapsed, err := repeat(ctx, cfg.MinTime, func() error {
		gemm.Sgemm(false, false, mm, nn, kk, 1, a, kk, b, nn, 0, c, nn)
		return nil
	})
	if err != nil {
		return HeadResult{}, err
	}
	res.SgemmGFLOPs = 2 * float64(mm) * float64(nn) * float64(kk) * float64(calls) / elapsed.Seconds() / 1e9
	res.Ratio = res.StepGFLOPs / res.SgemmGFLOPs
	if mo, ok := ops.(interface{ Mode() head.Precision }); ok {
		res.Precision = mo.Mode()
	}
	if res.Precision == head.PrecisionBF16 {
		res.BF16Kernel = gemm.BF16Kernel()
		calls, elapsed, err := repeat(ctx, cfg.MinTime, func() error {
			gemm.RepackBF16(nil, kk, nn, b, nn).MulAdd(false, mm, a, kk, c, nn)
			return nil
		})
		if err != nil {
			return HeadResult{}, err
		}
		res.BF16GFLOPs = 2 * float64(mm) * float64(nn) * float64(kk) * float64(calls) / elapsed.Seconds() / 1e9
	}
	return res, nil
}

// repeat runs fn once to warm up, then until minTime has passed (at least
// three times), and returns the timed count and duration.
func repeat(ctx context.Context, minTime time.Duration, fn func() error) (int, time.Duration, error) {
	if err := fn(); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	n := 0
	for n < 3 || time.Since(start) < minTime {
		if err := ctx.Err(); err != nil {
			return n, time.Since(start), fmt.Errorf("bench: %w", err)
		}
		if err := fn(); err != nil {
			return n, time.Since(start), err
		}
		n++
	}
	return n, time.Since(start), nil
}
