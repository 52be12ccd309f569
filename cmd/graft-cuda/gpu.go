//go:build graftcuda

package main

import (
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/gpu"
)

// openGPU opens the CUDA ops for a job's device ("cuda" or "cuda:N"; the
// config's validation has rejected anything else) at a --precision, and a
// JSON logger.
func openGPU(device, precision string) (*gpu.CUDAOps, *zap.Logger, error) {
	ordinal := 0
	if n, ok := strings.CutPrefix(device, "cuda:"); ok {
		ordinal, _ = strconv.Atoi(n)
	}
	prec, err := gpu.ParsePrecision(precision)
	if err != nil {
		return nil, nil, err
	}
	ops, err := gpu.NewOps(gpu.Options{Ordinal: ordinal, Precision: prec})
	if err != nil {
		return nil, nil, err
	}
	log, err := zap.NewProduction()
	if err != nil {
		ops.Close()
		return nil, nil, err
	}
	return ops, log, nil
}

// precisionUsage is the --precision flag's help.
const precisionUsage = "arithmetic of the conv GEMMs: tf32 (tensor cores, PyTorch's default for convolutions; the default on compute capability 8.0+), bf16 (tensor cores) or fp32 (exact float32; the default before 8.0)"
