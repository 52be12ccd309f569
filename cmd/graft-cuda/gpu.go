//go:build graftcuda

package main

import (
	"fmt"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/gpu"
)

// openGPU opens the CUDA ops for a GPU device ("cuda" or "cuda:N", read
// by the one device parser).
func openGPU(device api.Device) (*gpu.CUDAOps, error) {
	d, err := api.ParseDevice(device)
	if err != nil {
		return nil, err
	}
	if !d.IsCUDA() {
		return nil, fmt.Errorf("device %q: graft-cuda trains on a GPU: use cuda or cuda:N", device)
	}
	return gpu.NewOps(gpu.Options{Ordinal: d.Index})
}
