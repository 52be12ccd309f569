//go:build graftcuda

package main

import (
	"fmt"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/gpu"
)

// openGPU opens the CUDA ops for a GPU device ("cuda" or "cuda:N", read
// by the one device parser) at a --precision.
func openGPU(device api.Device, precision string) (*gpu.CUDAOps, error) {
	d, err := api.ParseDevice(device)
	if err != nil {
		return nil, err
	}
	if !d.IsCUDA() {
		return nil, fmt.Errorf("device %q: graft-cuda trains on a GPU: use cuda or cuda:N", device)
	}
	prec, err := gpu.ParsePrecision(precision)
	if err != nil {
		return nil, err
	}
	return gpu.NewOps(gpu.Options{Ordinal: d.Index, Precision: prec})
}

// precisionUsage is the --precision flag's help.
const precisionUsage = "arithmetic of the conv GEMMs: tf32 (tensor cores, PyTorch's default for convolutions; the default on compute capability 8.0+), bf16 (tensor cores) or fp32 (exact float32; the default before 8.0)"

// parseDevice is a GPU's ordinal from a --device: cuda or cuda:N, read by
// the one device parser.
func parseDevice(device string) (int, error) {
	d, err := api.ParseDevice(api.Device(device))
	if err == nil && !d.IsCUDA() {
		err = fmt.Errorf("device %q: use cuda:N with N a GPU ordinal from graft-cuda devices", device)
	}
	return d.Index, err
}
