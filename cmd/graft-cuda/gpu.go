//go:build graftcuda

package main

import (
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/gpu"
)

// openGPU opens the CUDA ops for a job's device ("cuda" or "cuda:N"; the
// config's validation has rejected anything else) and a JSON logger.
func openGPU(device string) (*gpu.CUDAOps, *zap.Logger, error) {
	ordinal := 0
	if n, ok := strings.CutPrefix(device, "cuda:"); ok {
		ordinal, _ = strconv.Atoi(n)
	}
	ops, err := gpu.NewOps(gpu.Options{Ordinal: ordinal})
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
