package gpu

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/graft-ml/graft/gpu/plan"
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
	// Precision of the conv GEMMs; PrecisionAuto is TF32 on compute
	// capability 8.0 and newer, FP32 before.
	Precision Precision
}

// CUDAOps implements head.Ops on one GPU with the kernels of head.cu.
// Buffers, the feature buffer included, stay in device memory; a step
// moves only the batch's indices and labels to the device (one
// asynchronous copy from pinned memory) and its losses and correct counts
// back (one copy), around kernels issued on one stream. Like every head.Ops it is not safe for
// concurrent use.
type CUDAOps struct {
	ctx     Context
	info    DeviceInfo
	mod     *module
	pool    *pool
	scratch map[string]*buffer
	// compute is the stream of every kernel; a step's inputs go up and
	// its results come back on it, through the pinned buffers.
	compute Stream
	pinned  map[string]pinnedBuf
	prec    Precision
}

// pinnedBuf is a pinned host staging buffer.
type pinnedBuf struct {
	h    HostPtr
	size int64
}

var _ head.Ops = (*CUDAOps)(nil)

// NewOps opens the GPU's primary context, loads the kernels and sets up
// the memory budget.
func NewOps(o Options) (*CUDAOps, error) {
	drv, err := systemDriver()
	if err != nil {
		return nil, err
	}
	return OpenOps(drv, o)
}

// OpenOps opens CUDAOps on drv's device o.Ordinal: NewOps on the host's
// driver, gputest's fakes on theirs.
func OpenOps(drv Driver, o Options) (*CUDAOps, error) {
	ctx, info, err := openContext(drv, o.Ordinal)
	if err != nil {
		return nil, err
	}
	prec, err := resolvePrecision(o.Precision, info.ComputeCapability)
	if err != nil {
		_ = ctx.Release()
		return nil, err
	}
	ops := &CUDAOps{ctx: ctx, info: info, scratch: map[string]*buffer{}, pinned: map[string]pinnedBuf{}, prec: prec}
	err = ctx.Do(func() error {
		budget := o.MemoryBudget
		if budget <= 0 {
			free, _, err := ctx.MemInfo()
			if err != nil {
				return cudaError("memory info", err)
			}
			budget = free / 10 * 9
		}
		ops.pool = newPool(ctx, budget)
		if ops.compute, err = ctx.NewStream(); err != nil {
			return cudaError("create the compute stream", err)
		}
		ops.mod, err = loadModule(ctx, info.Multiprocessors)
		return err
	})
	if err != nil {
		_ = ctx.Release()
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
	err := o.ctx.Do(func() error {
		err := cudaError("synchronise before closing", o.ctx.Synchronize())
		for name, p := range o.pinned {
			if ferr := o.ctx.FreeHost(p.h); err == nil && ferr != nil {
				err = cudaError("free pinned memory", ferr)
			}
			delete(o.pinned, name)
		}
		if o.compute != 0 {
			if serr := o.ctx.DestroyStream(o.compute); err == nil && serr != nil {
				err = cudaError("destroy the compute stream", serr)
			}
			o.compute = 0
		}
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
	if rerr := o.ctx.Release(); err == nil && rerr != nil {
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
	ptr   DevicePtr
	n     int
	size  int64 // bytes reserved in the pool
	owner *CUDAOps
}

// Len implements head.Buffer.
func (b *buffer) Len() int { return b.n }

// at is the address of float (or 4-byte element) i.
func (b *buffer) at(i int) DevicePtr { return b.ptr + DevicePtr(4*i) }

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
	err := o.ctx.Do(func() error {
		var err error
		if b, err = o.alloc(4 * int64(n)); err != nil {
			return err
		}
		b.n = n
		if err := o.ctx.MemsetD32(b.ptr, 0, int64(n)); err != nil {
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
	return o.ctx.Do(func() error {
		return cudaError("copy to the device", o.ctx.CopyHtoD(d.at(offset), bytesOf(src)))
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
	return o.ctx.Do(func() error {
		return cudaError("copy from the device", o.ctx.CopyDtoH(bytesOf(dst), s.at(offset)))
	})
}

// scratchBuf returns the named per-step scratch block, at least bytes
// long, kept between calls. Inside do.
func (o *CUDAOps) scratchBuf(name string, bytes int64) (*buffer, error) {
	if bytes <= 0 {
		return nil, fmt.Errorf("gpu: scratch %s is not in the step's plan (plan.Step)", name)
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

// staging returns the named pinned host buffer, at least bytes long, and
// its memory; the host may touch it only when no copy of it is in flight.
// Inside do.
func (o *CUDAOps) staging(name string, bytes int64) (HostPtr, []byte, error) {
	p, ok := o.pinned[name]
	if !ok || p.size < bytes {
		if ok {
			if err := o.ctx.FreeHost(p.h); err != nil {
				return 0, nil, cudaError("free pinned memory", err)
			}
			delete(o.pinned, name)
		}
		h, err := o.ctx.AllocHost(bytes)
		if err != nil {
			return 0, nil, cudaError(fmt.Sprintf("allocate %d bytes of pinned host memory", bytes), err)
		}
		p = pinnedBuf{h: h, size: bytes}
		o.pinned[name] = p
	}
	b, err := o.ctx.HostBytes(p.h)
	if err != nil {
		return 0, nil, cudaError("pinned staging "+name, err)
	}
	return p.h, b[:bytes], nil
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
	if len(idx) > MaxGridYZ {
		return nil, nil, fmt.Errorf("%w: batch of %d samples: the CUDA kernels take at most %d", head.ErrShape, len(idx), MaxGridYZ)
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
		if ceilDiv(len(idx)*spec.Height*spec.Width, gemmTile) > MaxGridYZ {
			return nil, nil, fmt.Errorf("%w: batch %d x %d pixels is too large for one launch: lower the batch size", head.ErrShape, len(idx), spec.Height*spec.Width)
		}
		if ceilDiv(spec.Kernel*spec.Kernel*spec.Channels, gemmTile) > MaxGridYZ {
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

func param(spec head.Spec, p *buffer, name string) DevicePtr {
	t, ok := spec.Layout().Find(name)
	if !ok {
		panic("gpu: layout has no " + name) // the layout is head's, not user input
	}
	return p.at(t.Offset)
}

// forward runs conv (implicit GEMM, bias, ReLU) and pooling, or the
// linear probe's pooling, then the dense layer. Inside do.
func (o *CUDAOps) forward(spec head.Spec, p, f *buffer, idx, labels []int32) (*batch, error) {
	bt := &batch{spec: spec, b: len(idx), feats: f}
	b, hw, in, classes := len(idx), spec.Height*spec.Width, spec.Pooled(), spec.Classes
	size := plan.Step(spec, b, o.mod.slots(o.geom(spec)), labels != nil, o.geom(spec).Geom)
	var err error
	// The batch's indices and labels (when training) go up together: one
	// asynchronous copy from pinned memory, ahead of the kernels on their
	// stream.
	if bt.idx, err = o.scratchBuf("idx", size["idx"]); err != nil {
		return nil, err
	}
	n := int64(4 * (len(idx) + len(labels)))
	h, host, err := o.staging("in", n)
	if err != nil {
		return nil, err
	}
	copy(host, bytesOf(idx))
	copy(host[4*len(idx):], bytesOf(labels))
	if err := o.ctx.CopyHtoDAsync(bt.idx.ptr, h, 0, n, o.compute); err != nil {
		return nil, cudaError("copy the batch indices and labels", err)
	}
	if bt.pooled, err = o.scratchBuf("pooled", size["pooled"]); err != nil {
		return nil, err
	}
	if spec.Kind == head.KindConv {
		m, nf := b*hw, spec.Filters
		if bt.act, err = o.scratchBuf("act", size["act"]); err != nil {
			return nil, err
		}
		g := o.geom(spec)
		splits, slice, _, _ := plan.Splits(spec, b, o.mod.slots(g), g.Geom)
		grid := Dim3{ceilDiv(nf, g.TileN), ceilDiv(m, g.TileM), splits}
		w, bias := param(spec, p, head.ConvKernel), param(spec, p, head.ConvBias)
		out := bt.act
		if splits > 1 {
			if out, err = o.scratchBuf("splitk", size["splitk"]); err != nil {
				return nil, err
			}
		}
		if err := g.fwd(o.mod).launch(o.compute, grid, g.Threads, ptrArg(f.ptr), ptrArg(bt.idx.ptr), ptrArg(w), ptrArg(bias), ptrArg(out.ptr),
			intArg(b), intArg(spec.Height), intArg(spec.Width), intArg(spec.Channels), intArg(nf), intArg(spec.Kernel),
			intArg(slice), boolArg(splits == 1)); err != nil {
			return nil, err
		}
		if splits > 1 {
			if err := o.mod.splitkReduce.launch(o.compute, linear(m*nf), blockSize, ptrArg(out.ptr), ptrArg(bias), ptrArg(bt.act.ptr),
				intArg(m), intArg(nf), intArg(splits), boolArg(true)); err != nil {
				return nil, err
			}
		}
		if err := o.mod.poolRows.launch(o.compute, Dim3{ceilDiv(nf, 128), b, 1}, 128, ptrArg(bt.act.ptr), ptrArg(bt.pooled.ptr), intArg(hw), intArg(nf)); err != nil {
			return nil, err
		}
	} else {
		if err := o.mod.gatherPool.launch(o.compute, Dim3{ceilDiv(in, 128), b, 1}, 128, ptrArg(f.ptr), ptrArg(bt.idx.ptr), ptrArg(bt.pooled.ptr),
			intArg(hw), intArg(in)); err != nil {
			return nil, err
		}
	}
	if bt.lgt, err = o.scratchBuf("logits", size["logits"]); err != nil {
		return nil, err
	}
	if err := o.mod.denseFwd.launch(o.compute, linear(b*classes), blockSize, ptrArg(bt.pooled.ptr), ptrArg(param(spec, p, head.DenseKernel)),
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
	return o.ctx.Do(func() error {
		bt, err := o.forward(spec, p, f, idx, nil)
		if err != nil {
			return err
		}
		n := int64(4 * len(out))
		h, _, err := o.staging("out", n)
		if err != nil {
			return err
		}
		if err := o.ctx.CopyDtoHAsync(h, 0, bt.lgt.ptr, n, o.compute); err != nil {
			return cudaError("copy the logits", err)
		}
		if err := o.ctx.SyncStream(o.compute); err != nil {
			return cudaError("run the forward pass", err)
		}
		_, host, err := o.staging("out", n)
		if err != nil {
			return err
		}
		copy(bytesOf(out), host)
		return nil
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
	err = o.ctx.Do(func() error {
		bt, err := o.forward(spec, p, f, idx, labels)
		if err != nil {
			return err
		}
		if err := o.backward(bt, p, g); err != nil {
			return err
		}
		// One copy back per step: the losses and correct counts sit
		// side by side in "stats".
		n := int64(16 * b)
		h, _, err := o.staging("out", n)
		if err != nil {
			return err
		}
		if err := o.ctx.CopyDtoHAsync(h, 0, o.scratch["stats"].ptr, n, o.compute); err != nil {
			return cudaError("copy the losses and correct counts", err)
		}
		if err := o.ctx.SyncStream(o.compute); err != nil {
			return cudaError("run the training step", err)
		}
		_, host, err := o.staging("out", n)
		if err != nil {
			return err
		}
		copy(bytesOf(loss), host[:8*b])
		copy(bytesOf(correct), host[8*b:])
		for _, v := range loss {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				logits = make([]float32, b*classes)
				return cudaError("copy the logits", o.ctx.CopyDtoH(bytesOf(logits), bt.lgt.ptr))
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
// The labels follow the indices in bt.idx (forward uploaded both).
func (o *CUDAOps) backward(bt *batch, p, g *buffer) error {
	spec, b, classes, in := bt.spec, bt.b, bt.spec.Classes, bt.spec.Pooled()
	size := plan.Step(spec, b, o.mod.slots(o.geom(spec)), true, o.geom(spec).Geom)
	dlogits, err := o.scratchBuf("dlogits", size["dlogits"])
	if err != nil {
		return err
	}
	// stats: the b losses (double), then the b correct flags (long long).
	stats, err := o.scratchBuf("stats", size["stats"])
	if err != nil {
		return err
	}
	if err := o.mod.softmaxXent.launch(o.compute, Dim3{ceilDiv(b*32, blockSize), 1, 1}, blockSize, ptrArg(bt.lgt.ptr), ptrArg(bt.idx.at(b)),
		ptrArg(dlogits.ptr), ptrArg(stats.ptr), ptrArg(stats.ptr+DevicePtr(8*b)), intArg(b), intArg(classes),
		floatArg(float64(spec.LabelSmoothing))); err != nil {
		return err
	}
	var dpooled DevicePtr
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
	if err := o.mod.denseBwd.launch(o.compute, linear(work), blockSize, ptrArg(bt.pooled.ptr), ptrArg(dlogits.ptr),
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
	if err := o.mod.unpoolReLU.launch(o.compute, Dim3{ceilDiv(nf, 128), b, 1}, 128, ptrArg(bt.act.ptr), ptrArg(dpooled), ptrArg(bsum.ptr),
		intArg(hw), intArg(nf)); err != nil {
		return err
	}
	if err := o.mod.sumRows.launch(o.compute, Dim3{ceilDiv(nf, 128), 1, 1}, 128, ptrArg(bsum.ptr), ptrArg(param(spec, g, head.ConvBias)),
		intArg(b), intArg(nf)); err != nil {
		return err
	}
	gm := o.geom(spec)
	_, _, splits, slice := plan.Splits(spec, b, o.mod.slots(gm), gm.Geom)
	dw := param(spec, g, head.ConvKernel)
	out := dw
	if splits > 1 {
		ws, err := o.scratchBuf("splitk", size["splitk"])
		if err != nil {
			return err
		}
		out = ws.ptr
	}
	if err := gm.wgrad(o.mod).launch(o.compute, Dim3{ceilDiv(nf, gm.TileN), ceilDiv(kdim, gm.TileM), splits}, gm.Threads,
		ptrArg(bt.feats.ptr), ptrArg(bt.idx.ptr), ptrArg(bt.act.ptr), ptrArg(out),
		intArg(b), intArg(spec.Height), intArg(spec.Width), intArg(spec.Channels), intArg(nf), intArg(spec.Kernel),
		intArg(slice)); err != nil {
		return err
	}
	if splits > 1 {
		return o.mod.splitkReduce.launch(o.compute, linear(kdim*nf), blockSize, ptrArg(out), ptrArg(0), ptrArg(dw),
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

// floatsOf is b's memory as float32s (b from a pinned allocation, whose
// start is page-aligned).
func floatsOf(b []byte) []float32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}
