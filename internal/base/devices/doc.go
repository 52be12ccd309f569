// Package devices reports what a host can compute on. The CPU is always
// there; GPUs are reported by the graft-cuda binary (the only one that
// links CUDA) and are added when that binary exists.
package devices
