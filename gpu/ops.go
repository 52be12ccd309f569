package gpu

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/graft-ml/graft/head"
)

// Options configure the CUDA ops.
type Options struct {
	// Ordinal selects the GPU (cuda:N).
	Ordinal int
	// MemoryBudget caps the device memory these ops allocate, features,
	// parameters, optimizer state and scratch together; 0 means 90% of the
	// memory free when the ops open.
	MemoryBudget int64
}

// CUDAOps implements head.Ops on one GPU with the kernels of head.cu.
// Buffers, the feature buffer included, stay in device memory; a step
// moves only the batch's indices and labels to the device and its loss
// and correct counts back. Like every head.Ops it is not safe for
// concurrent use.
type CUDAOps struct {
	ctx     devContext
	info    DeviceInfo
	mod     *module
	pool    *pool
	scratch map[string]*buffer
}

var _ head.Ops = (*CUDAOps)(nil)

// NewOps opens the GPU's primary context, loads the kernels and sets up
// the memory budget.
func NewOps(o Options) (*CUDAOps, error) {
	drv, err := systemDriver()
	if err != nil {
		return nil, err
	}
	return newOps(drv, o)
}

func newOps(drv driver, o Options) (*CUDAOps, error) {
	ctx, info, err := openContext(drv, o.Ordinal)
	if err != nil {
		return nil, err
	}
	ops := &CUDAOps{ctx: ctx, info: info, scratch: map[string]*buffer{}}
	err = ctx.do(func() error {
		budget := o.MemoryBudget
		if budget <= 0 {
			free, _, err := ctx.memInfo()
			if err != nil {
				return cudaError("memory info", err)
			}
			budget = free / 10 * 9
		}
		ops.pool = newPool(ctx, budget)
		ops.mod, err = loadModule(ctx, info.Multiprocessors)
		return err
	})
	if err != nil {
		_ = ctx.release()
		return nil, err
	}
	return ops, nil
}

// Close waits for the kernels still running (a fault of the last one
// surfaces here, not in the next process), frees every cached block and
// the scratch memory, unloads the kernels and releases the primary
// context. Buffers the caller did not free are reclaimed by the context's
// release only when no one else holds it.
func (o *CUDAOps) Close() error {
	if o.ctx == nil {
		return nil
	}
	err := o.ctx.do(func() error {
		err := cudaError("synchronise before closing", o.ctx.synchronize())
		for name, b := range o.scratch {
			o.pool.release(b.ptr, b.size)
			delete(o.scratch, name)
		}
		if terr := o.pool.trim(); err == nil {
			err = terr
		}
		if uerr := o.mod.unload(); err == nil {
			err = uerr
		}
		return err
	})
	if rerr := o.ctx.release(); err == nil && rerr != nil {
		err = cudaError("release the primary context", rerr)
	}
	o.ctx = nil
	return err
}

// Info describes the GPU.
func (o *CUDAOps) Info() DeviceInfo { return o.info }

// Budget is the memory budget in bytes; PeakBytes the most the ops have
// had in use at once.
func (o *CUDAOps) Budget() int64    { return o.pool.budget }
func (o *CUDAOps) PeakBytes() int64 { return o.pool.peak }

// Device implements head.Ops.
func (o *CUDAOps) Device() string { return o.info.ID }

// buffer is device memory from the pool.
type buffer struct {
	ptr   devicePtr
	n     int
	size  int64 // bytes reserved in the pool
	owner *CUDAOps
}

// Len implements head.Buffer.
func (b *buffer) Len() int { return b.n }

// at is the address of float (or 4-byte element) i.
func (b *buffer) at(i int) devicePtr { return b.ptr + devicePtr(4*i) }

func (o *CUDAOps) device(b head.Buffer) (*buffer, error) {
	d, ok := b.(*buffer)
	if !ok || d == nil || d.owner != o {
		return nil, fmt.Errorf("gpu: buffer of type %T was not allocated by these CUDA ops (%s)", b, o.Device())
	}
	if d.ptr == 0 {
		return nil, fmt.Errorf("gpu: buffer used after Free")
	}
	return d, nil
}

// Alloc implements head.Ops.
func (o *CUDAOps) Alloc(n int) (head.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: cannot allocate %d floats", head.ErrShape, n)
	}
	var b *buffer
	err := o.ctx.do(func() error {
		var err error
		if b, err = o.alloc(4 * int64(n)); err != nil {
			return err
		}
		b.n = n
		if err := o.ctx.memsetD32(b.ptr, 0, int64(n)); err != nil {
			o.pool.release(b.ptr, b.size)
			return cudaError("zero a new buffer", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (o *CUDAOps) alloc(bytes int64) (*buffer, error) {
	ptr, size, err := o.pool.alloc(bytes)
	if err != nil {
		return nil, err
	}
	return &buffer{ptr: ptr, size: size, owner: o}, nil
}

// Free implements head.Ops: the block goes back to the pool's cache.
func (o *CUDAOps) Free(b head.Buffer) {
	d, err := o.device(b)
	if err != nil {
		return
	}
	o.pool.release(d.ptr, d.size)
	d.ptr, d.n = 0, 0
}

// Upload implements head.Ops.
func (o *CUDAOps) Upload(dst head.Buffer, offset int, src []float32) error {
	d, err := o.device(dst)
	if err != nil {
		return err
	}
	if offset < 0 || offset+len(src) > d.n {
		return fmt.Errorf("%w: upload of %d floats at %d into a buffer of %d", head.ErrShape, len(src), offset, d.n)
	}
	if len(src) == 0 {
		return nil
	}
	return o.ctx.do(func() error {
		return cudaError("copy to the device", o.ctx.copyHtoD(d.at(offset), bytesOf(src)))
	})
}

// Download implements head.Ops.
func (o *CUDAOps) Download(dst []float32, src head.Buffer, offset int) error {
	s, err := o.device(src)
	if err != nil {
		return err
	}
	if offset < 0 || offset+len(dst) > s.n {
		return fmt.Errorf("%w: download of %d floats at %d from a buffer of %d", head.ErrShape, len(dst), offset, s.n)
	}
	if len(dst) == 0 {
		return nil
	}
	return o.ctx.do(func() error {
		return cudaError("copy from the device", o.ctx.copyDtoH(bytesOf(dst), s.at(offset)))
	})
}

// scratchBuf returns the named per-step scratch block, at least bytes
// long, kept between calls. Inside do.
func (o *CUDAOps) scratchBuf(name string, bytes int64) (*buffer, error) {
	if bytes <= 0 {
		return nil, fmt.Errorf("gpu: scratch %s is not in the step's plan (stepScratch)", name)
	}
	if b := o.scratch[name]; b != nil {
		if b.size >= bytes {
			return b, nil
		}
		o.pool.release(b.ptr, b.size)
		delete(o.scratch, name)
	}
	b, err := o.alloc(bytes)
	if err != nil {
		return nil, fmt.Errorf("gpu: scratch %s: %w", name, err)
	}
	o.scratch[name] = b
	return b, nil
}

// check validates a batch against the spec as the CPU reference does.
func (o *CUDAOps) check(spec head.Spec, params, feats head.Buffer, idx []int32) (*buffer, *buffer, error) {
	p, err := o.device(params)
	if err != nil {
		return nil, nil, err
	}
	f, err := o.device(feats)
	if err != nil {
		return nil, nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	if want := spec.Layout().Total; p.n != want {
		return nil, nil, fmt.Errorf("%w: %d parameters, the spec needs %d", head.ErrShape, p.n, want)
	}
	size := spec.FeatureSize()
	if f.n%size != 0 {
		return nil, nil, fmt.Errorf("%w: feature buffer of %d floats is not a whole number of %dx%dx%d samples", head.ErrShape, f.n, spec.Height, spec.Width, spec.Channels)
	}
	n := int64(f.n / size)
	if len(idx) == 0 {
		return nil, nil, fmt.Errorf("%w: empty batch", head.ErrShape)
	}
	if len(idx) > maxGridYZ {
		return nil, nil, fmt.Errorf("%w: batch of %d samples: the CUDA kernels take at most %d", head.ErrShape, len(idx), maxGridYZ)
	}
	for _, i := range idx {
		if i < 0 || int64(i) >= n {
			return nil, nil, fmt.Errorf("%w: sample index %d outside the %d cached samples", head.ErrShape, i, n)
		}
	}
	// The GEMMs' grids, checked before any kernel runs: grid y counts
	// 128-row tiles of the conv's output (forward) and of its kernel
	// (weight gradient), at most 65535.
	if spec.Kind == head.KindConv {
		if ceilDiv(len(idx)*spec.Height*spec.Width, gemmTile) > maxGridYZ {
			return nil, nil, fmt.Errorf("%w: batch %d x %d pixels is too large for one launch: lower the batch size", head.ErrShape, len(idx), spec.Height*spec.Width)
		}
		if ceilDiv(spec.Kernel*spec.Kernel*spec.Channels, gemmTile) > maxGridYZ {
			return nil, nil, fmt.Errorf("%w: conv kernel of %d taps x %d channels is too large for one launch: pick a smaller kernel or an earlier tap", head.ErrShape, spec.Kernel*spec.Kernel, spec.Channels)
		}
	}
	return p, f, nil
}

// batch is one step's device state: where the forward pass put things.
type batch struct {
	spec                         head.Spec
	b                            int
	feats, idx, act, pooled, lgt *buffer
}

func param(spec head.Spec, p *buffer, name string) devicePtr {
	t, ok := spec.Layout().Find(name)
	if !ok {
		panic("gpu: layout has no " + name) // the layout is head's, not user input
	}
	return p.at(t.Offset)
}

// forward runs conv (implicit GEMM, bias, ReLU) and pooling, or the
// linear probe's pooling, then the dense layer. Inside do.
func (o *CUDAOps) forward(spec head.Spec, p, f *buffer, idx []int32) (*batch, error) {
	bt := &batch{spec: spec, b: len(idx), feats: f}
	b, hw, in, classes := len(idx), spec.Height*spec.Width, spec.Pooled(), spec.Classes
	size := stepScratch(spec, b, o.mod.gemmSlots, false)
	var err error
	if bt.idx, err = o.scratchBuf("idx", size["idx"]); err != nil {
		return nil, err
	}
	if err := o.ctx.copyHtoD(bt.idx.ptr, bytesOf(idx)); err != nil {
		return nil, cudaError("copy the batch indices", err)
	}
	if bt.pooled, err = o.scratchBuf("pooled", size["pooled"]); err != nil {
		return nil, err
	}
	if spec.Kind == head.KindConv {
		m, nf := b*hw, spec.Filters
		if bt.act, err = o.scratchBuf("act", size["act"]); err != nil {
			return nil, err
		}
		splits, slice, _, _ := gemmSplits(spec, b, o.mod.gemmSlots)
		grid := dim3{ceilDiv(nf, gemmTile), ceilDiv(m, gemmTile), splits}
		w, bias := param(spec, p, head.ConvKernel), param(spec, p, head.ConvBias)
		out := bt.act
		if splits > 1 {
			if out, err = o.scratchBuf("splitk", size["splitk"]); err != nil {
				return nil, err
			}
		}
		if err := o.mod.convFwd.launch(grid, gemmThreads, ptrArg(f.ptr), ptrArg(bt.idx.ptr), ptrArg(w), ptrArg(bias), ptrArg(out.ptr),
			intArg(b), intArg(spec.Height), intArg(spec.Width), intArg(spec.Channels), intArg(nf), intArg(spec.Kernel),
			intArg(slice), boolArg(splits == 1)); err != nil {
			return nil, err
		}
		if splits > 1 {
			if err := o.mod.splitkReduce.launch(linear(m*nf), blockSize, ptrArg(out.ptr), ptrArg(bias), ptrArg(bt.act.ptr),
				intArg(m), intArg(nf), intArg(splits), boolArg(true)); err != nil {
				return nil, err
			}
		}
		if err := o.mod.poolRows.launch(dim3{ceilDiv(nf, 128), b, 1}, 128, ptrArg(bt.act.ptr), ptrArg(bt.pooled.ptr), intArg(hw), intArg(nf)); err != nil {
			return nil, err
		}
	} else {
		if err := o.mod.gatherPool.launch(dim3{ceilDiv(in, 128), b, 1}, 128, ptrArg(f.ptr), ptrArg(bt.idx.ptr), ptrArg(bt.pooled.ptr),
			intArg(hw), intArg(in)); err != nil {
			return nil, err
		}
	}
	if bt.lgt, err = o.scratchBuf("logits", size["logits"]); err != nil {
		return nil, err
	}
	if err := o.mod.denseFwd.launch(linear(b*classes), blockSize, ptrArg(bt.pooled.ptr), ptrArg(param(spec, p, head.DenseKernel)),
		ptrArg(param(spec, p, head.DenseBias)), ptrArg(bt.lgt.ptr), intArg(b), intArg(in), intArg(classes)); err != nil {
		return nil, err
	}
	return bt, nil
}

// Logits implements head.Ops.
func (o *CUDAOps) Logits(spec head.Spec, params, feats head.Buffer, idx []int32, out []float32) error {
	p, f, err := o.check(spec, params, feats, idx)
	if err != nil {
		return err
	}
	if len(out) != len(idx)*spec.Classes {
		return fmt.Errorf("%w: logits buffer of %d floats for %d samples x %d classes", head.ErrShape, len(out), len(idx), spec.Classes)
	}
	return o.ctx.do(func() error {
		bt, err := o.forward(spec, p, f, idx)
		if err != nil {
			return err
		}
		return cudaError("copy the logits", o.ctx.copyDtoH(bytesOf(out), bt.lgt.ptr))
	})
}

// Gradients implements head.Ops.
func (o *CUDAOps) Gradients(spec head.Spec, params, feats head.Buffer, idx, labels []int32, grads head.Buffer) (head.Stats, error) {
	p, f, err := o.check(spec, params, feats, idx)
	if err != nil {
		return head.Stats{}, err
	}
	g, err := o.device(grads)
	if err != nil {
		return head.Stats{}, err
	}
	if g.n != p.n {
		return head.Stats{}, fmt.Errorf("%w: gradient buffer of %d floats for %d parameters", head.ErrShape, g.n, p.n)
	}
	if len(labels) != len(idx) {
		return head.Stats{}, fmt.Errorf("%w: %d labels for %d samples", head.ErrShape, len(labels), len(idx))
	}
	for _, y := range labels {
		if y < 0 || int(y) >= spec.Classes {
			return head.Stats{}, fmt.Errorf("%w: label %d outside [0, %d)", head.ErrShape, y, spec.Classes)
		}
	}
	b, classes := len(idx), spec.Classes
	loss := make([]float64, b)
	correct := make([]int64, b)
	var logits []float32
	err = o.ctx.do(func() error {
		bt, err := o.forward(spec, p, f, idx)
		if err != nil {
			return err
		}
		if err := o.backward(bt, p, g, labels); err != nil {
			return err
		}
		l, c := o.scratch["loss"], o.scratch["correct"]
		if err := o.ctx.copyDtoH(bytesOf(loss), l.ptr); err != nil {
			return cudaError("copy the losses", err)
		}
		if err := o.ctx.copyDtoH(bytesOf(correct), c.ptr); err != nil {
			return cudaError("copy the correct counts", err)
		}
		for _, v := range loss {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				logits = make([]float32, b*classes)
				return cudaError("copy the logits", o.ctx.copyDtoH(bytesOf(logits), bt.lgt.ptr))
			}
		}
		return nil
	})
	if err != nil {
		return head.Stats{}, err
	}
	st := head.Stats{Count: b}
	for i, v := range loss {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return head.Stats{}, fmt.Errorf("%w: loss of sample %d is %v (logits %v): lower the learning rate or check the features", head.ErrNonFinite, i, v, logits[i*classes:(i+1)*classes])
		}
		st.Loss += v
		st.Correct += int(correct[i])
	}
	return st, nil
}

// backward: fused softmax cross-entropy, the dense layer's gradients and,
// for a conv head, GAP backward with the ReLU mask, the bias gradient and
// the weight gradient (no gradient for the frozen features). Inside do.
func (o *CUDAOps) backward(bt *batch, p, g *buffer, labels []int32) error {
	spec, b, classes, in := bt.spec, bt.b, bt.spec.Classes, bt.spec.Pooled()
	size := stepScratch(spec, b, o.mod.gemmSlots, true)
	lab, err := o.scratchBuf("labels", size["labels"])
	if err != nil {
		return err
	}
	if err := o.ctx.copyHtoD(lab.ptr, bytesOf(labels)); err != nil {
		return cudaError("copy the labels", err)
	}
	dlogits, err := o.scratchBuf("dlogits", size["dlogits"])
	if err != nil {
		return err
	}
	loss, err := o.scratchBuf("loss", size["loss"])
	if err != nil {
		return err
	}
	correct, err := o.scratchBuf("correct", size["correct"])
	if err != nil {
		return err
	}
	if err := o.mod.softmaxXent.launch(dim3{ceilDiv(b*32, blockSize), 1, 1}, blockSize, ptrArg(bt.lgt.ptr), ptrArg(lab.ptr),
		ptrArg(dlogits.ptr), ptrArg(loss.ptr), ptrArg(correct.ptr), intArg(b), intArg(classes),
		floatArg(float64(spec.LabelSmoothing))); err != nil {
		return err
	}
	var dpooled devicePtr
	conv := spec.Kind == head.KindConv
	if conv {
		d, err := o.scratchBuf("dpooled", size["dpooled"])
		if err != nil {
			return err
		}
		dpooled = d.ptr
	}
	work := in*classes + classes
	if conv {
		work += b * in
	}
	if err := o.mod.denseBwd.launch(linear(work), blockSize, ptrArg(bt.pooled.ptr), ptrArg(dlogits.ptr),
		ptrArg(param(spec, p, head.DenseKernel)), ptrArg(param(spec, g, head.DenseKernel)), ptrArg(param(spec, g, head.DenseBias)),
		ptrArg(dpooled), intArg(b), intArg(in), intArg(classes)); err != nil {
		return err
	}
	if !conv {
		return nil
	}
	hw, nf, kdim := spec.Height*spec.Width, spec.Filters, spec.Kernel*spec.Kernel*spec.Channels
	bsum, err := o.scratchBuf("bsum", size["bsum"])
	if err != nil {
		return err
	}
	// act becomes dZ in place.
	if err := o.mod.unpoolReLU.launch(dim3{ceilDiv(nf, 128), b, 1}, 128, ptrArg(bt.act.ptr), ptrArg(dpooled), ptrArg(bsum.ptr),
		intArg(hw), intArg(nf)); err != nil {
		return err
	}
	if err := o.mod.sumRows.launch(dim3{ceilDiv(nf, 128), 1, 1}, 128, ptrArg(bsum.ptr), ptrArg(param(spec, g, head.ConvBias)),
		intArg(b), intArg(nf)); err != nil {
		return err
	}
	_, _, splits, slice := gemmSplits(spec, b, o.mod.gemmSlots)
	dw := param(spec, g, head.ConvKernel)
	out := dw
	if splits > 1 {
		ws, err := o.scratchBuf("splitk", size["splitk"])
		if err != nil {
			return err
		}
		out = ws.ptr
	}
	if err := o.mod.convWgrad.launch(dim3{ceilDiv(nf, gemmTile), ceilDiv(kdim, gemmTile), splits}, gemmThreads,
		ptrArg(bt.feats.ptr), ptrArg(bt.idx.ptr), ptrArg(bt.act.ptr), ptrArg(out),
		intArg(b), intArg(spec.Height), intArg(spec.Width), intArg(spec.Channels), intArg(nf), intArg(spec.Kernel),
		intArg(slice)); err != nil {
		return err
	}
	if splits > 1 {
		return o.mod.splitkReduce.launch(linear(kdim*nf), blockSize, ptrArg(out), ptrArg(0), ptrArg(dw),
			intArg(kdim), intArg(nf), intArg(splits), boolArg(false))
	}
	return nil
}

// bytesOf is s's memory as bytes, for the driver's copies.
func bytesOf[T int32 | int64 | float32 | float64](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}
