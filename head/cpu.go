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
// internal/util/gemm (OpenBLAS unless built with -tags purego); scratch memory is
// kept between calls, so one CPUOps serves one trainer at a time.
type CPUOps struct {
	col, act, pooled, logits, dLogits, dPooled []float32
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
// conv head it leaves the im2col matrix in o.col and the post-ReLU
// activations in o.act for the backward pass.
func (o *CPUOps) forward(spec Spec, p, f cpuBuffer, idx []int32) (pooled, logits []float32) {
	b, hw, lay := len(idx), spec.Height*spec.Width, spec.Layout()
	pooled = grow(&o.pooled, b*spec.Pooled())
	if spec.Kind == KindConv {
		kw, kb := param(lay, p, ConvKernel), param(lay, p, ConvBias)
		rows, k := b*hw, spec.Kernel*spec.Kernel*spec.Channels
		col := grow(&o.col, rows*k)
		im2col(spec, f, idx, col)
		act := grow(&o.act, rows*spec.Filters)
		gemm.Sgemm(false, false, rows, spec.Filters, k, 1, col, k, kw, spec.Filters, 0, act, spec.Filters)
		biasReLUPool(act, kb, b, hw, pooled)
	} else {
		size := spec.FeatureSize()
		parallel.For(b, parallel.Grain(size), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				start := int(idx[i]) * size
				meanRows(f[start:start+size], hw, spec.Channels, pooled[i*spec.Channels:(i+1)*spec.Channels])
			}
		})
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
	_, logits := o.forward(spec, p, f, idx)
	copy(out, logits)
	return nil
}

// Gradients implements Ops.
func (o *CPUOps) Gradients(spec Spec, params, feats Buffer, idx, labels []int32, grads Buffer) (Stats, error) {
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
	pooled, logits := o.forward(spec, p, f, idx)
	dLogits := grow(&o.dLogits, b*spec.Classes)
	st, err := SoftmaxCrossEntropy(logits, labels, spec.Classes, spec.LabelSmoothing, dLogits)
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
	hw := spec.Height * spec.Width
	rows, k := b*hw, spec.Kernel*spec.Kernel*spec.Channels
	act := o.act[:rows*in]
	unpoolReLU(act, dPooled, b, hw, in)
	columnSums(act, rows, in, param(lay, g, ConvBias))
	gemm.Sgemm(true, false, k, in, rows, 1, o.col[:rows*k], k, act, in, 0, param(lay, g, ConvKernel), in)
	return st, nil
}

// SoftmaxCrossEntropy computes the fused, numerically stable softmax
// cross-entropy of a batch of logits (rows of n classes) against integer
// labels with label smoothing s, and writes the gradient of the batch-mean
// loss with respect to the logits into dLogits.
func SoftmaxCrossEntropy(logits []float32, labels []int32, n int, s float32, dLogits []float32) (Stats, error) {
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
		var loss float64
		for j, v := range z {
			t := off
			if j == y {
				t = on
			}
			loss -= t * (float64(v) - lse)
			dz[j] = float32((math.Exp(float64(v)-lse) - t) / float64(b))
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return Stats{}, fmt.Errorf("%w: loss of sample %d is %v (logits %v): lower the learning rate or check the features", ErrNonFinite, i, loss, z)
		}
		st.Loss += loss
	}
	return st, nil
}

// im2col lays out the kxk same-padded neighbourhood of every pixel of the
// selected samples as one row of col ([b*H*W, k*k*C], row order (b,y,x),
// column order (dy,dx,c) to match the HWIO kernel).
func im2col(spec Spec, f []float32, idx []int32, col []float32) {
	h, w, c, k := spec.Height, spec.Width, spec.Channels, spec.Kernel
	pad, size, rowLen := k/2, spec.FeatureSize(), k*k*c
	parallel.For(len(idx)*h, parallel.Grain(w*rowLen), func(lo, hi int) {
		for by := lo; by < hi; by++ {
			bi, y := by/h, by%h
			sample := f[int(idx[bi])*size : int(idx[bi]+1)*size]
			for x := 0; x < w; x++ {
				row := col[(by*w+x)*rowLen : (by*w+x+1)*rowLen]
				for dy := 0; dy < k; dy++ {
					sy := y + dy - pad
					for dx := 0; dx < k; dx++ {
						dst := row[(dy*k+dx)*c : (dy*k+dx+1)*c]
						sx := x + dx - pad
						if sy < 0 || sy >= h || sx < 0 || sx >= w {
							clear(dst)
							continue
						}
						copy(dst, sample[(sy*w+sx)*c:(sy*w+sx+1)*c])
					}
				}
			}
		}
	})
}

// biasReLUPool adds the bias, applies ReLU in place and averages each
// sample's hw rows into pooled.
func biasReLUPool(act, bias []float32, b, hw int, pooled []float32) {
	f := len(bias)
	parallel.For(b, parallel.Grain(hw*f), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rows := act[i*hw*f : (i+1)*hw*f]
			for r := 0; r < hw; r++ {
				row := rows[r*f : (r+1)*f]
				for j, v := range row {
					row[j] = max(v+bias[j], 0)
				}
			}
			meanRows(rows, hw, f, pooled[i*f:(i+1)*f])
		}
	})
}

// unpoolReLU turns post-ReLU activations into the gradient of the loss
// with respect to the pre-activations: dPooled/hw where the unit was
// active, zero elsewhere. It overwrites act. The choice is made on the
// bits, a conditional move rather than a branch: ReLU masks are as good
// as random, and mispredicted branches made this a tenth of a small
// head's step.
func unpoolReLU(act, dPooled []float32, b, hw, f int) {
	scale := 1 / float32(hw)
	parallel.For(b, parallel.Grain(hw*f), func(lo, hi int) {
		ds := make([]uint32, f)
		for i := lo; i < hi; i++ {
			for j, d := range dPooled[i*f : (i+1)*f] {
				ds[j] = math.Float32bits(d * scale)
			}
			for r := 0; r < hw; r++ {
				row := act[(i*hw+r)*f : (i*hw+r+1)*f]
				ds := ds[:len(row)]
				for j, v := range row {
					// v > 0: bits in (0, +Inf], which excludes -0 and NaN.
					g := ds[j]
					if math.Float32bits(v)-1 >= 0x7f800000 {
						g = 0
					}
					row[j] = math.Float32frombits(g)
				}
			}
		}
	})
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
