package plan

import (
	"maps"

	"github.com/graft-ml/graft/head"
)

// Scratch is the device scratch memory of the head's steps, bytes by
// buffer name, as forward and backward ask the pool for it: planned so
// that it can be reserved before the features, and so that the daemon can
// count it when it admits a job.
type Scratch map[string]int64

// Bytes is what the plan takes from the pool, in its size classes.
func (p Scratch) Bytes() int64 {
	var n int64
	for _, b := range p {
		n += RoundSize(b)
	}
	return n
}

// ContextBytes is the device memory a process's CUDA context takes beyond
// its allocations (code, stacks, heaps): 0.3 to 0.6 GB depending on the
// GPU and the driver. The daemon's admission counts the upper end per job.
const ContextBytes = 600 << 20

// anyGPUSlots bounds the concurrently resident GEMM blocks of the GPUs a
// plan without a device must cover: up to 192 multiprocessors at 2 blocks
// each (head.cu's __launch_bounds__ minimum; 132 on an H100 or H200).
const anyGPUSlots = 2 * 192

// ForAnyGPU is the scratch of training steps at batch samples and of
// evaluation (forward only) at evalBatch samples, on a device running
// slots GEMM blocks at once; slots <= 0 plans for any GPU (the largest
// split-K workspace over 1 to anyGPUSlots).
func ForAnyGPU(spec head.Spec, batch, evalBatch, slots int) Scratch {
	if slots <= 0 {
		plan := Scratch{}
		for s := 1; s <= anyGPUSlots; s++ {
			Merge(plan, ForAnyGPU(spec, batch, evalBatch, s))
		}
		return plan
	}
	// Either kernel family may run the GEMMs (the precision, and the
	// shape: Geom); the plan covers both.
	plan := Scratch{}
	for _, g := range []Geom{SIMT, TensorCore} {
		if batch > 0 {
			Merge(plan, Step(spec, batch, Slots{slots, slots}, true, g))
		}
		if evalBatch > 0 {
			Merge(plan, Step(spec, evalBatch, Slots{slots, slots}, false, g))
		}
	}
	return plan
}

// Slots is how many blocks of the forward and of the weight-gradient
// GEMM kernel run at once on a device (their occupancies may differ).
type Slots struct{ Fwd, Wgrad int }

// Merge keeps the larger size of each buffer: named buffers are reused
// from call to call, grown when a call needs more.
func Merge(dst, src Scratch) {
	for k, v := range src {
		dst[k] = max(dst[k], v)
	}
}

// Splits is how forward and backward cut the conv's two GEMMs (the
// forward's reduction over the kernel taps, the weight gradient's over the
// batch's pixels).
func Splits(spec head.Spec, b int, slots Slots, g Geom) (fwd, fwdSlice, wgrad, wgradSlice int) {
	m, kdim, nf := b*spec.Height*spec.Width, spec.Kernel*spec.Kernel*spec.Channels, spec.Filters
	fwd, fwdSlice = SplitK(ceilDiv(m, g.TileM)*ceilDiv(nf, g.TileN), kdim, slots.Fwd, g.KStep)
	wgrad, wgradSlice = SplitK(ceilDiv(kdim, g.TileM)*ceilDiv(nf, g.TileN), m, slots.Wgrad, g.KStep)
	return
}

// Step is one call's scratch: forward, and backward too when
// train is set. forward and backward size their buffers with it.
func Step(spec head.Spec, b int, slots Slots, train bool, g Geom) Scratch {
	bb, in, classes := int64(b), int64(spec.Pooled()), int64(spec.Classes)
	p := Scratch{"idx": 4 * bb, "pooled": 4 * bb * in, "logits": 4 * bb * classes}
	conv := spec.Kind == head.KindConv
	m, kdim, nf := bb*int64(spec.Height*spec.Width), int64(spec.Kernel*spec.Kernel*spec.Channels), int64(spec.Filters)
	fwd, _, wgrad, _ := 1, 0, 1, 0
	if conv {
		fwd, _, wgrad, _ = Splits(spec, b, slots, g)
		p["act"] = 4 * m * nf
		if fwd > 1 {
			p["splitk"] = 4 * int64(fwd) * m * nf
		}
	}
	if !train {
		return p
	}
	// Training uploads the labels after the indices, in one copy, and
	// brings the losses and correct counts back side by side.
	maps.Copy(p, Scratch{"idx": 8 * bb, "dlogits": 4 * bb * classes, "stats": 16 * bb})
	if conv {
		p["dpooled"] = 4 * bb * in
		p["bsum"] = 4 * bb * nf
		if wgrad > 1 {
			p["splitk"] = max(p["splitk"], 4*int64(wgrad)*kdim*nf)
		}
	}
	return p
}

// Geom is one family of GEMM kernels' fixed geometry: the output tile,
// the reduction's step, the threads of a block.
type Geom struct{ TileM, TileN, KStep, Threads int }

// The SIMT kernels (head.cu's TILE_M, TILE_N, TILE_K, THREADS) and the
// tensor-core ones, TF32 and BF16 alike (TC_M, TC_N, TC_K, TC_THREADS).
var (
	SIMT       = Geom{128, 128, 8, 256}
	TensorCore = Geom{128, 128, 16, 256}
)

// RoundSize rounds a request to the device pool's size class: 512 bytes
// below 1 MiB, then 1 MiB steps below 64 MiB, then 16 MiB steps.
func RoundSize(n int64) int64 {
	step := int64(512)
	switch {
	case n >= 64<<20:
		step = 16 << 20
	case n >= 1<<20:
		step = 1 << 20
	}
	if n <= 0 {
		return step
	}
	return (n + step - 1) / step * step
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
