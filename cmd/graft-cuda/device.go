package main

import (
	"fmt"

	"github.com/graft-ml/graft/api"
)

// Untagged: what graft-cuda decides about a device before it touches one,
// so that a machine without the CUDA toolkit tests it.

// gpuOrdinal is a GPU device's ordinal (parsed where it came in: a flag,
// the job's record); any other device is refused: graft-cuda runs on a GPU.
func gpuOrdinal(d api.Device) (int, error) {
	if !d.IsCUDA() {
		return 0, fmt.Errorf("device %q: graft-cuda runs on a GPU: use cuda or cuda:N with N a GPU ordinal from graft-cuda devices", d)
	}
	return d.Index, nil
}
