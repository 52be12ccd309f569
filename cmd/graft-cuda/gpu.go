//go:build graftcuda

package main

import (
	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/gpu"
)

// openGPU opens the CUDA ops for a GPU device ("cuda" or "cuda:N", read
// by the one device parser) at the job's precision (auto picks the
// device's default).
func openGPU(device api.Device, prec gpu.Precision) (*gpu.CUDAOps, error) {
	ordinal, err := gpuOrdinal(device)
	if err != nil {
		return nil, err
	}
	return gpu.NewOps(gpu.Options{Ordinal: ordinal, Precision: prec})
}

// precisionUsage is graft-cuda bench's --precision help.
const precisionUsage = "arithmetic of the conv GEMMs: tf32 (tensor cores, PyTorch's default for convolutions; the default on compute capability 8.0+), bf16 (tensor cores) or fp32 (exact float32; the default before 8.0)"
