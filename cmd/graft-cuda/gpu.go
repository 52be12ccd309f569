//go:build graftcuda

package main

import (
	"fmt"

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

// gpuOrdinal reads a GPU device ("cuda" or "cuda:N") with the one device
// parser and refuses any other: graft-cuda runs on a GPU.
func gpuOrdinal(device api.Device) (int, error) {
	d, err := api.ParseDevice(device)
	if err != nil {
		return 0, err
	}
	if !d.IsCUDA() {
		return 0, fmt.Errorf("device %q: graft-cuda runs on a GPU: use cuda or cuda:N with N a GPU ordinal from graft-cuda devices", device)
	}
	return d.Index, nil
}

// precisionUsage is the --precision flag's help.
const precisionUsage = "arithmetic of the conv GEMMs: tf32 (tensor cores, PyTorch's default for convolutions; the default on compute capability 8.0+), bf16 (tensor cores) or fp32 (exact float32; the default before 8.0)"
