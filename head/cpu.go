package head

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/parallel"
)

// cpuBuffer is a host slice posing as device memory.
type cpuBuffer []float32

func (b cpuBuffer) Len() int { return len(b) }

// CPUOps runs the head on the host: the fallback device and the reference
// every other implementation is tested against. The GEMMs go through
// internal/util/gemm (OpenBLAS unless built with -tags purego), at the
// precision of NewCPUOpsAt (bf16: gemm.PackedBF16); scratch memory is
// kept between calls, so one CPUOps serves one trainer at a time.
type CPUOps struct {
	x, col, act, pooled, logits, dLogits, dPooled []float32

	whole   *gemm.PackedB   // the conv kernel, packed each step (im2col)
	taps    []*gemm.PackedB // the conv kernel's taps, packed each step
	tapRuns []tapRun
	runKey  [3]int // the map and kernel tapRuns was made for

	prec Precision // of the conv's GEMMs: fp32 (or auto) or bf16
	// The bf16 mode's packed operands: the kernel (im2col), its taps,
	// and the pre-activation gradient.
	wholeBF16, dActBF16 *gemm.PackedBF16
	tapsBF16            []*gemm.PackedBF16
	// x or col, and the pre-activation gradient, rounded once a step.
	in16, dAct16 []uint16

	// Winograd (winograd.go): the input's transform V, kept for the
	// gradient; the products M (then the output gradient's transform
	// dM); the kernel's gradient in the transformed domain dU; the
	// kernel's transform U, packed. wino says whether the last forward
	// ran it.
	winoV, winoM, winoDU []float32
	winoU                []*gemm.PackedB
	wino                 bool
}

// NewCPUOps returns the host implementation of Ops.
func NewCPUOps() *CPUOps { return &CPUOps{} }

// Device implements Ops.
func (*CPUOps) Device() string { return "cpu" }

// Alloc implements Ops.
func (*CPUOps) Alloc(n int) (Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: cannot allocate %d floats", ErrShape, n)
	}
	return make(cpuBuffer, n), nil
}

// Free implements Ops; the garbage collector does the work.
func (*CPUOps) Free(Buffer) {}

// Upload implements Ops.
func (*CPUOps) Upload(dst Buffer, offset int, src []float32) error {
	d, err := host(dst)
	if err != nil {
		return err
	}
	if offset < 0 || offset+len(src) > len(d) {
		return fmt.Errorf("%w: upload of %d floats at %d into a buffer of %d", ErrShape, len(src), offset, len(d))
	}
	copy(d[offset:], src)
	return nil
}

// Download implements Ops.
func (*CPUOps) Download(dst []float32, src Buffer, offset int) error {
	s, err := host(src)
	if err != nil {
		return err
	}
	if offset < 0 || offset+len(dst) > len(s) {
		return fmt.Errorf("%w: download of %d floats at %d from a buffer of %d", ErrShape, len(dst), offset, len(s))
	}
	copy(dst, s[offset:])
	return nil
}

func host(b Buffer) (cpuBuffer, error) {
	h, ok := b.(cpuBuffer)
	if !ok {
		return nil, fmt.Errorf("head: buffer of type %T was not allocated by the CPU ops", b)
	}
	return h, nil
}

// hostBuffers checks that params and feats fit the spec and that every
// index names a sample of feats.
func hostBuffers(spec Spec, params, feats Buffer, idx []int32) (cpuBuffer, cpuBuffer, error) {
	p, err := host(params)
	if err != nil {
		return nil, nil, err
	}
	f, err := host(feats)
	if err != nil {
		return nil, nil, err
	}
	if want := spec.Layout().Total; len(p) != want {
		return nil, nil, fmt.Errorf("%w: %d parameters, the spec needs %d", ErrShape, len(p), want)
	}
	size := spec.FeatureSize()
	if len(f)%size != 0 {
		return nil, nil, fmt.Errorf("%w: feature buffer of %d floats is not a whole number of %dx%dx%d samples", ErrShape, len(f), spec.Height, spec.Width, spec.Channels)
	}
	n := int32(len(f) / size)
	if len(idx) == 0 {
		return nil, nil, fmt.Errorf("%w: empty batch", ErrShape)
	}
	for _, i := range idx {
		if i < 0 || i >= n {
			return nil, nil, fmt.Errorf("%w: sample index %d outside the %d cached samples", ErrShape, i, n)
		}
	}
	return p, f, nil
}

func grow(s *[]float32, n int) []float32 {
	if cap(*s) < n {
		*s = make([]float32, n)
	}
	*s = (*s)[:n]
	return *s
}

// forward computes the pooled activations and the logits of a batch; for a
// conv head it leaves the gathered input (o.x or o.col) and the post-ReLU
// activations in o.act ([H*W][batch][F]) for the backward pass.
func (o *CPUOps) forward(spec Spec, p, f cpuBuffer, idx []int32, dropMask []float32) (pooled, logits []float32) {
	b, hw, lay := len(idx), spec.Height*spec.Width, spec.Layout()
	pooled = grow(&o.pooled, b*spec.Pooled())
	if spec.Kind == KindConv {
		kw, kb := param(lay, p, ConvKernel), param(lay, p, ConvBias)
		act := grow(&o.act, b*hw*spec.Filters)
		o.convForward(spec, kw, kb, f, idx, act)
		reluPool(act, b, hw, spec.Filters, pooled)
	} else {
		size := spec.FeatureSize()
		parallel.For(b, parallel.Grain(size), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				start := int(idx[i]) * size
				meanRows(f[start:start+size], hw, spec.Channels, pooled[i*spec.Channels:(i+1)*spec.Channels])
			}
		})
	}
	if dropMask != nil {
		applyMask(pooled, dropMask)
	}
	logits = grow(&o.logits, b*spec.Classes)
	dense(spec, lay, p, pooled, b, logits)
	return pooled, logits
}

func dense(spec Spec, lay Layout, p cpuBuffer, pooled []float32, b int, logits []float32) {
	dk, db := param(lay, p, DenseKernel), param(lay, p, DenseBias)
	for i := 0; i < b; i++ {
		copy(logits[i*spec.Classes:(i+1)*spec.Classes], db)
	}
	gemm.Sgemm(false, false, b, spec.Classes, spec.Pooled(), 1, pooled, spec.Pooled(), dk, spec.Classes, 1, logits, spec.Classes)
}

// param is the slice of p that holds the named tensor.
func param(lay Layout, p []float32, name string) []float32 {
	t, ok := lay.Find(name)
	if !ok {
		panic("head: layout has no " + name) // the layout is ours, not user input
	}
	return p[t.Offset : t.Offset+t.Size]
}

// Logits implements Ops.
func (o *CPUOps) Logits(spec Spec, params, feats Buffer, idx []int32, out []float32) error {
	p, f, err := hostBuffers(spec, params, feats, idx)
	if err != nil {
		return err
	}
	if len(out) != len(idx)*spec.Classes {
		return fmt.Errorf("%w: logits buffer of %d floats for %d samples x %d classes", ErrShape, len(out), len(idx), spec.Classes)
	}
	// Winograd's transformed input is about 3x the features (4 tiles x 36
	// values a channel for a 7x7 map's 49): evaluation batches (256 and
	// up) run in chunks so that it stays the size of a training batch's.
	chunk := len(idx)
	if spec.Kind == KindConv && o.useWinograd(spec) {
		chunk = winoLogitsChunk
	}
	for lo := 0; lo < len(idx); lo += chunk {
		hi := min(lo+chunk, len(idx))
		_, logits := o.forward(spec, p, f, idx[lo:hi], nil)
		copy(out[lo*spec.Classes:], logits)
	}
	return nil
}

// winoLogitsChunk is the most samples Logits runs at once on Winograd.
const winoLogitsChunk = 64

// Gradients implements Ops.
func (o *CPUOps) Gradients(spec Spec, params, feats Buffer, idx, labels []int32, grads Buffer) (Stats, error) {
	return o.GradientsWith(spec, params, feats, idx, labels, grads, Extras{})
}

// GradientsWith implements ExtrasOps.
func (o *CPUOps) GradientsWith(spec Spec, params, feats Buffer, idx, labels []int32, grads Buffer, x Extras) (Stats, error) {
	if err := x.check(spec, len(idx)); err != nil {
		return Stats{}, err
	}
	p, f, err := hostBuffers(spec, params, feats, idx)
	if err != nil {
		return Stats{}, err
	}
	g, err := host(grads)
	if err != nil {
		return Stats{}, err
	}
	if len(g) != len(p) {
		return Stats{}, fmt.Errorf("%w: gradient buffer of %d floats for %d parameters", ErrShape, len(g), len(p))
	}
	if len(labels) != len(idx) {
		return Stats{}, fmt.Errorf("%w: %d labels for %d samples", ErrShape, len(labels), len(idx))
	}
	b, lay := len(idx), spec.Layout()
	pooled, logits := o.forward(spec, p, f, idx, x.Mask)
	dLogits := grow(&o.dLogits, b*spec.Classes)
	st, err := WeightedSoftmaxCrossEntropy(logits, labels, x.Weights, spec.Classes, spec.LabelSmoothing, dLogits)
	if err != nil {
		return st, err
	}

	// Dense layer: dW = pooled^T dLogits, db = column sums.
	in := spec.Pooled()
	gemm.Sgemm(true, false, in, spec.Classes, b, 1, pooled, in, dLogits, spec.Classes, 0, param(lay, g, DenseKernel), spec.Classes)
	columnSums(dLogits, b, spec.Classes, param(lay, g, DenseBias))
	if spec.Kind == KindLinear {
		return st, nil
	}

	// Back through GAP and ReLU into the conv's pre-activation gradient,
	// then the conv's weight and bias gradients. No input gradient.
	dPooled := grow(&o.dPooled, b*in)
	gemm.Sgemm(false, true, b, in, spec.Classes, 1, dLogits, spec.Classes, param(lay, p, DenseKernel), spec.Classes, 0, dPooled, in)
	if x.Mask != nil {
		applyMask(dPooled, x.Mask)
	}
	hw := spec.Height * spec.Width
	act := o.act[:b*hw*in]
	unpoolReLU(act, dPooled, b, hw, in)
	columnSums(act, b*hw, in, param(lay, g, ConvBias))
	o.convWeightGrad(spec, b, act, param(lay, g, ConvKernel))
	return st, nil
}

// SoftmaxCrossEntropy computes the fused, numerically stable softmax
// cross-entropy of a batch of logits (rows of n classes) against integer
// labels with label smoothing s, and writes the gradient of the batch-mean
// loss with respect to the logits into dLogits.
func SoftmaxCrossEntropy(logits []float32, labels []int32, n int, s float32, dLogits []float32) (Stats, error) {
	return WeightedSoftmaxCrossEntropy(logits, labels, nil, n, s, dLogits)
}

// WeightedSoftmaxCrossEntropy is SoftmaxCrossEntropy with each sample's
// loss scaled by its weight (nil: all 1), reduced as Keras 3 reduces a
// sample-weighted loss (sum_over_batch_size): the sum of weighted losses
// over the batch size, not over the sum of the weights. Stats.Loss sums
// the weighted losses.
func WeightedSoftmaxCrossEntropy(logits []float32, labels []int32, weights []float32, n int, s float32, dLogits []float32) (Stats, error) {
	b := len(labels)
	st := Stats{Count: b}
	off, on := float64(s)/float64(n), 1-float64(s)+float64(s)/float64(n)
	for i := 0; i < b; i++ {
		y := int(labels[i])
		if y < 0 || y >= n {
			return Stats{}, fmt.Errorf("%w: label %d outside [0, %d)", ErrShape, y, n)
		}
		z, dz := logits[i*n:(i+1)*n], dLogits[i*n:(i+1)*n]
		best := 0
		for j, v := range z {
			if v > z[best] {
				best = j
			}
		}
		if best == y {
			st.Correct++
		}
		maxZ := float64(z[best])
		var sum float64
		for _, v := range z {
			sum += math.Exp(float64(v) - maxZ)
		}
		lse := maxZ + math.Log(sum)
		w := 1.0
		if weights != nil {
			w = float64(weights[i])
		}
		var loss float64
		for j, v := range z {
			t := off
			if j == y {
				t = on
			}
			loss -= t * (float64(v) - lse)
			dz[j] = float32(w * (math.Exp(float64(v)-lse) - t) / float64(b))
		}
		loss *= w
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return Stats{}, fmt.Errorf("%w: loss of sample %d is %v (logits %v): lower the learning rate or check the features", ErrNonFinite, i, loss, z)
		}
		st.Loss += loss
	}
	return st, nil
}

// reluPool applies ReLU in place to act ([hw][b][f]) and averages each
// sample's hw rows into pooled ([b][f]).
func reluPool(act []float32, b, hw, f int, pooled []float32) {
	inv := 1 / float32(hw)
	parallel.For(b, parallel.Grain(hw*f), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out := pooled[i*f : (i+1)*f]
			clear(out)
			for p := 0; p < hw; p++ {
				reluSum(act[(p*b+i)*f:(p*b+i+1)*f], out)
			}
			for j := range out {
				out[j] *= inv
			}
		}
	})
}

// unpoolReLU turns post-ReLU activations ([hw][b][f]) into the gradient of the loss
// with respect to the pre-activations: dPooled/hw where the unit was
// active, zero elsewhere. It overwrites act.
func unpoolReLU(act, dPooled []float32, b, hw, f int) {
	scale := 1 / float32(hw)
	parallel.For(b, parallel.Grain(hw*f), func(lo, hi int) {
		ds := make([]float32, f)
		for i := lo; i < hi; i++ {
			for j, d := range dPooled[i*f : (i+1)*f] {
				ds[j] = d * scale
			}
			for p := 0; p < hw; p++ {
				mask(act[(p*b+i)*f:(p*b+i+1)*f], ds)
			}
		}
	})
}

// vectorPart runs the assembly loop asm on the longest prefix of a (and
// b) whose length is a multiple of 8 and returns that length; the caller's
// Go loop does the rest, and all of it without the assembly.
func vectorPart(a, b []float32, asm func(a, b *float32, n int)) int {
	if !hasVecAsm || len(a) < 8 {
		return 0
	}
	n := len(a) / 8 * 8
	_ = b[n-1]
	asm(&a[0], &b[0], n)
	return n
}

// reluSum applies ReLU to row in place and adds it to sum.
func reluSum(row, sum []float32) {
	n := vectorPart(row, sum, reluSumAsm)
	sum = sum[n:len(row)]
	for j, v := range row[n:] {
		v = max(v, 0)
		row[n+j] = v
		sum[j] += v
	}
}

// mask sets row[j] to g[j] where row[j] > 0 and to 0 elsewhere. The
// choice is made on the bits, a conditional move rather than a branch:
// ReLU masks are as good as random, and mispredicted branches made this a
// tenth of a small head's step.
func mask(row, g []float32) {
	n := vectorPart(row, g, maskAsm)
	g = g[n:len(row)]
	for j, v := range row[n:] {
		// v > 0: bits in (0, +Inf], which excludes -0 and NaN.
		b := math.Float32bits(g[j])
		if math.Float32bits(v)-1 >= 0x7f800000 {
			b = 0
		}
		row[n+j] = math.Float32frombits(b)
	}
}

// meanRows averages n rows of width w into out.
func meanRows(x []float32, n, w int, out []float32) {
	columnSums(x, n, w, out)
	inv := 1 / float32(n)
	for j := range out {
		out[j] *= inv
	}
}

// columnSums writes the sums of the columns of an n x w matrix into out.
func columnSums(x []float32, n, w int, out []float32) {
	clear(out)
	for r := 0; r < n; r++ {
		for j, v := range x[r*w : (r+1)*w] {
			out[j] += v
		}
	}
}

// CPUScratchBytes is what CPUOps at precision p holds after training
// steps at batch samples and evaluation (Logits) at evalBatch: its
// per-step buffers, the packed kernel, and Winograd's transforms, sized
// as the steps allocate them. The parameters, optimizer slots and
// features are the caller's.
func CPUScratchBytes(spec Spec, p Precision, batch, evalBatch int) int64 {
	if spec.Kind != KindConv {
		rows := int64(max(batch, evalBatch))
		return 4 * rows * int64(spec.Pooled()+3*spec.Classes) // pooled, logits, dLogits
	}
	hw, c, nf, k := spec.Height*spec.Width, spec.Channels, spec.Filters, spec.Kernel
	wino := (&CPUOps{prec: p}).useWinograd(spec)
	f32 := func(n int) int64 { return 4 * int64(n) }
	bf16 := func(n int) int64 { return 2 * int64(n) }
	fwd := max(batch, evalBatch) // samples in one forward
	if wino {
		fwd = max(batch, min(evalBatch, winoLogitsChunk))
	}
	// act ([H*W][b][F]), pooled and dPooled, logits and dLogits.
	n := f32(hw*fwd*nf) + f32(2*fwd*nf) + f32(2*fwd*spec.Classes)
	switch {
	case wino:
		a := headWino.A
		th, tw := winoTiles(spec)
		rows := th * tw * fwd
		n += f32(a*a*rows*c) + f32(a*a*rows*nf) + f32(a*a*c*nf) + int64(a*a)*packed(c, nf)
	case c >= directMinChannels:
		n += f32(hw*fwd*c) + int64(k*k)*gemm.PackedBytes(c, nf)
		if p == PrecisionBF16 { // x and dAct rounded, the taps and dAct packed
			n += bf16(hw*fwd*c) + bf16(hw*batch*nf) + int64(k*k)*bf16(c*nf) + bf16(hw*batch*nf)
		}
	default:
		n += f32(hw*fwd*k*k*c) + gemm.PackedBytes(k*k*c, nf)
		if p == PrecisionBF16 {
			n += bf16(hw*fwd*k*k*c) + bf16(k*k*c*nf) + bf16(hw*batch*nf)
		}
	}
	return n
}

// packed is the bytes of a k x n PackedB made by ReuseB: the packed
// panels, or B itself where no packed kernel runs (RepackB keeps the
// caller's B there: gemm.PackedBytes, 0).
func packed(k, n int) int64 {
	if b := gemm.PackedBytes(k, n); b > 0 {
		return b
	}
	return 4 * int64(k*n)
}
