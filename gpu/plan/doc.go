// Package plan sizes the CUDA head's device memory without a device: the
// scratch of a step as the kernels' fixed geometry and split-K cut it, the
// pool's size classes and a CUDA context's share. gpu allocates by it;
// the daemon admits jobs by it (internal/fit/train's Footprint) without
// linking gpu. It imports nothing of graft's but head.
package plan
