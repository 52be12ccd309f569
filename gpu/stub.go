//go:build !cuda

package gpu

import "errors"

// ErrNoCUDA is returned by every function of a build without the cuda tag.
var ErrNoCUDA = errors.New("gpu: this binary was built without CUDA support: build graft-cuda (go build -tags cuda ./cmd/graft-cuda) and run GPU work through it")

// Available reports whether this build can use a GPU.
func Available() error { return ErrNoCUDA }
