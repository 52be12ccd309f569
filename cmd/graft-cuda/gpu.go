//go:build graftcuda

package main

import (
	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/gpu"
)

// openGPU opens the CUDA ops for a GPU device ("cuda" or "cuda:N", read
// by the one device parser) at a --precision ("" picks the device's
// default).
func openGPU(device api.Device, precision string) (*gpu.CUDAOps, error) {
	prec, err := gpu.ParsePrecision(precision)
	if err != nil {
		return nil, err
	}
	ordinal, err := gpuOrdinal(device)
	if err != nil {
		return nil, err
	}
	return gpu.NewOps(gpu.Options{Ordinal: ordinal, Precision: prec})
}

// precisionUsage is the --precision flag's help.
const precisionUsage = "arithmetic of the conv GEMMs: tf32 (tensor cores, PyTorch's default for convolutions; the default on compute capability 8.0+), bf16 (tensor cores) or fp32 (exact float32; the default before 8.0)"
