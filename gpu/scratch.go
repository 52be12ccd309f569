package gpu

import (
	"maps"

	"github.com/graft-ml/graft/head"
)

// ScratchPlan is the device scratch memory of the head's steps, bytes by
// buffer name, as forward and backward ask the pool for it: planned so
// that it can be reserved before the features, and so that the daemon can
// count it when it admits a job.
type ScratchPlan map[string]int64

// Bytes is what the plan takes from the pool, in its size classes.
func (p ScratchPlan) Bytes() int64 {
	var n int64
	for _, b := range p {
		n += roundSize(b)
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

// PlanScratch is the scratch of training steps at batch samples and of
// evaluation (forward only) at evalBatch samples, on a device running
// slots GEMM blocks at once; slots <= 0 plans for any GPU (the largest
// split-K workspace over 1 to anyGPUSlots).
func PlanScratch(spec head.Spec, batch, evalBatch, slots int) ScratchPlan {
	if slots <= 0 {
		plan := ScratchPlan{}
		for s := 1; s <= anyGPUSlots; s++ {
			merge(plan, PlanScratch(spec, batch, evalBatch, s))
		}
		return plan
	}
	// Either kernel family may run the GEMMs (the precision, and the
	// shape: gemmGeom); the plan covers both.
	plan := ScratchPlan{}
	for _, g := range []gemmGeom{simtGeom, tf32Geom} {
		if batch > 0 {
			merge(plan, stepScratch(spec, batch, gemmSlots{slots, slots}, true, g))
		}
		if evalBatch > 0 {
			merge(plan, stepScratch(spec, evalBatch, gemmSlots{slots, slots}, false, g))
		}
	}
	return plan
}

// gemmSlots is how many blocks of the forward and of the weight-gradient
// GEMM kernel run at once on a device (their occupancies may differ).
type gemmSlots struct{ fwd, wgrad int }

// merge keeps the larger size of each buffer: named buffers are reused
// from call to call, grown when a call needs more.
func merge(dst, src ScratchPlan) {
	for k, v := range src {
		dst[k] = max(dst[k], v)
	}
}

// gemmSplits is how forward and backward cut the conv's two GEMMs (the
// forward's reduction over the kernel taps, the weight gradient's over the
// batch's pixels).
func gemmSplits(spec head.Spec, b int, slots gemmSlots, g gemmGeom) (fwd, fwdSlice, wgrad, wgradSlice int) {
	m, kdim, nf := b*spec.Height*spec.Width, spec.Kernel*spec.Kernel*spec.Channels, spec.Filters
	fwd, fwdSlice = splitK(ceilDiv(m, g.tileM)*ceilDiv(nf, g.tileN), kdim, slots.fwd, g.kStep)
	wgrad, wgradSlice = splitK(ceilDiv(kdim, g.tileM)*ceilDiv(nf, g.tileN), m, slots.wgrad, g.kStep)
	return
}

// stepScratch is one call's scratch: forward, and backward too when
// train is set. forward and backward size their buffers with it.
func stepScratch(spec head.Spec, b int, slots gemmSlots, train bool, g gemmGeom) ScratchPlan {
	bb, in, classes := int64(b), int64(spec.Pooled()), int64(spec.Classes)
	p := ScratchPlan{"idx": 4 * bb, "pooled": 4 * bb * in, "logits": 4 * bb * classes}
	conv := spec.Kind == head.KindConv
	m, kdim, nf := bb*int64(spec.Height*spec.Width), int64(spec.Kernel*spec.Kernel*spec.Channels), int64(spec.Filters)
	fwd, _, wgrad, _ := 1, 0, 1, 0
	if conv {
		fwd, _, wgrad, _ = gemmSplits(spec, b, slots, g)
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
	maps.Copy(p, ScratchPlan{"idx": 8 * bb, "dlogits": 4 * bb * classes, "stats": 16 * bb})
	if conv {
		p["dpooled"] = 4 * bb * in
		p["bsum"] = 4 * bb * nf
		if wgrad > 1 {
			p["splitk"] = max(p["splitk"], 4*int64(wgrad)*kdim*nf)
		}
	}
	return p
}

// ReserveScratch allocates the plan of PlanScratch on this device now, so
// that what is uploaded next (the features) leaves room for the steps:
// a step then allocates nothing.
func (o *CUDAOps) ReserveScratch(spec head.Spec, batch, evalBatch int) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	// The steps' own plan: this precision's kernels at their occupancy.
	g := o.geom(spec)
	plan := ScratchPlan{}
	if batch > 0 {
		merge(plan, stepScratch(spec, batch, o.mod.slots(g), true, g))
	}
	if evalBatch > 0 {
		merge(plan, stepScratch(spec, evalBatch, o.mod.slots(g), false, g))
	}
	return o.ctx.Do(func() error {
		for name, bytes := range plan {
			if _, err := o.scratchBuf(name, bytes); err != nil {
				return err
			}
		}
		return nil
	})
}
