package gpu

import (
	"github.com/graft-ml/graft/gpu/plan"
	"github.com/graft-ml/graft/head"
)

// Internals that the external tests (package gpu_test, which import
// gpu/gputest and so cannot be package gpu) read.

// IsOpen reports whether o still holds its context (not yet closed).
func IsOpen(o *CUDAOps) bool { return o.ctx != nil }

// PoolUsed is the bytes o's pool has handed out.
func PoolUsed(o *CUDAOps) int64 { return o.pool.used }

// ComputeStream is the stream o runs its kernels on.
func ComputeStream(o *CUDAOps) Stream { return o.compute }

// CopyStream is the stream fs uploads on.
func CopyStream(fs *FeatureStream) Stream { return fs.copy }

// BufferPtr is b's device address (b from a CUDAOps).
func BufferPtr(b head.Buffer) DevicePtr { return b.(*buffer).ptr }

// GEMMSplits is the split-K counts of the conv GEMMs at prec when
// fwdSlots and wgradSlots blocks of each kernel fit on the device at once.
func GEMMSplits(spec head.Spec, batch int, prec Precision, fwdSlots, wgradSlots int) (fwd, wgrad int) {
	g := map[Precision]gemmGeom{PrecisionFP32: simtGeom, PrecisionTF32: tf32Geom, PrecisionBF16: bf16Geom}[prec]
	fwd, _, wgrad, _ = plan.Splits(spec, batch, plan.Slots{Fwd: fwdSlots, Wgrad: wgradSlots}, g.Geom)
	return fwd, wgrad
}
