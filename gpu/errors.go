package gpu

import (
	"errors"
	"fmt"

	"github.com/graft-ml/graft/head"
)

// Sentinel errors; every error of this package wraps one of them (or a
// head error such as head.ErrShape) with context.
var (
	// ErrNoCUDA: this binary was built without the graftcuda tag.
	ErrNoCUDA = errors.New("gpu: this binary was built without CUDA support: build graft-cuda (make graft-cuda, i.e. go build -tags graftcuda ./cmd/graft-cuda) and run GPU work through it")
	// ErrOutOfMemory: an allocation does not fit the memory budget or the
	// device. The message names the request, the budget and what is in use.
	ErrOutOfMemory = fmt.Errorf("gpu: %w", head.ErrOutOfMemory)
	// ErrCUDA: the CUDA driver reported an error.
	ErrCUDA = errors.New("gpu: CUDA error")
	// ErrContextLost: a kernel faulted; the CUDA context is unusable for the
	// rest of the process (a sticky error). Restart the worker.
	ErrContextLost = errors.New("gpu: the CUDA context is unusable after a kernel fault: restart the process")
)

// DeviceInfo describes one GPU, as `graft-cuda devices` prints it.
type DeviceInfo struct {
	ID                string `json:"id"` // "cuda:N"
	Ordinal           int    `json:"ordinal"`
	Kind              string `json:"kind"` // "cuda"
	Name              string `json:"name"`
	ComputeCapability string `json:"compute_capability"` // "8.0"
	Multiprocessors   int    `json:"multiprocessors"`
	MemoryBytes       int64  `json:"memory_bytes"`
	DriverVersion     int    `json:"driver_version"` // e.g. 12020 for CUDA 12.2
}
