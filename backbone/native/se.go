package native

import (
	"fmt"
	"runtime"
	"slices"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/parallel"
)

// seOp names a fused squeeze-and-excitation node in profiles and errors;
// it is no TensorFlow op, so no graph can name it.
const seOp = "SqueezeExcite"

// fuseSqueezeExcite replaces each squeeze-and-excitation block,
//
//	y = x * conv2(conv1(reshape(mean(x, axes 1 and 2))))
//
// with conv1 and conv2 fused 1x1 convolutions on the 1x1 map (each with
// its bias and activation, from fuseConvs), by one node that reads x
// alone: one vectorised pass for the mean, the two small convolutions
// (their own kernels, on [N,1,1,C]), and one pass for the scale. The
// block's nodes become unread and compact drops them, with the Shape,
// StridedSlice and Pack that Keras computes the Reshape's shape with.
// Run after fuseConvs.
func (e *Engine) fuseSqueezeExcite() {
	rd, fetched := e.readers()
	for i, n := range e.nodes {
		if n.op() != "Mul" || n.k == nil || len(n.inputs) != 2 {
			continue
		}
		for pos := range 2 {
			x, s := n.inputs[pos], n.inputs[1-pos]
			k1, k2, mean, ok := e.excitation(rd, fetched, x, s)
			if !ok {
				continue
			}
			// The clone keeps the Mul's inputs in the def, as a fused
			// convolution keeps its own: only n.inputs is run.
			def := proto.Clone(n.def).(*framework.NodeDef)
			def.Op = seOp
			e.nodes[s.node].uses[s.out]--
			// x is scaled in place when nothing else can see it: read
			// only by the block, not fetched, and the output of a fused
			// convolution (its own buffer, never a feed, a constant or a
			// view of another tensor).
			p := e.nodes[x.node]
			n.inPlace = p.conv != nil && x.out == 0 && !fetched[x.node][0] && len(rd[x.node][0]) == 2
			n.def, n.k, n.inputs, n.fused = def, seKernel(k1, k2, n.inPlace), []ref{x}, mean
			if u, ok := e.projection(rd, fetched, i); ok {
				c := e.nodes[u]
				c.k = seConvKernel(k1, k2, n.inPlace, c.k, c.conv)
				c.inputs[0], c.fused = x, mean
				n.inputs, n.uses[0] = nil, 0
			}
			break
		}
	}
}

// projection is the node that alone reads the block i's output: a fused
// 1x1, stride-1 Conv2D (MobileNet's and EfficientNet's projection), so
// that seConvKernel can fold the scale into its filter.
func (e *Engine) projection(rd [][][]use, fetched [][]bool, i int) (int, bool) {
	if fetched[i][0] || len(rd[i][0]) != 1 || rd[i][0][0].pos != 0 {
		return 0, false
	}
	u := rd[i][0][0].node
	c := e.nodes[u]
	if c.op() != "Conv2D" || c.conv == nil || !c.conv.pointwise() || c.conv.w.sh != 1 || c.conv.w.sw != 1 || c.inputs[0] != (ref{i, 0}) {
		return 0, false
	}
	return u, true
}

// excitation checks that s = conv2(conv1(r)), r the mean of x over H and
// W as [N,1,1,C], every tensor in between read only on that path and not
// fetched, and returns the two convolutions' kernels and the Mean's name.
func (e *Engine) excitation(rd [][][]use, fetched [][]bool, x, s ref) (k1, k2 *kernel, mean string, ok bool) {
	// only: r's node has one output, read once (by the next node on the
	// path), or also by Shape nodes when shapes is set; not fetched.
	only := func(r ref, shapes bool) bool {
		if r.out != 0 || len(rd[r.node]) != 1 || fetched[r.node][0] {
			return false
		}
		rs := rd[r.node][0]
		others := 0
		for _, u := range rs {
			if !shapes || e.nodes[u.node].op() != "Shape" {
				others++
			}
		}
		return others == 1
	}
	conv := func(r ref) *node {
		n := e.nodes[r.node]
		if n.op() != "Conv2D" || n.conv == nil || len(n.inputs) != 1 || !only(r, false) || !n.conv.pointwise() {
			return nil
		}
		return n
	}
	// MobileNetV3's hard sigmoid, relu6(v + 3) / 6: the convolution
	// takes the + 3 and the clamp; the constant factor after it is
	// applied to the scale.
	factor := float32(1)
	if f := e.nodes[s.node]; f.op() == "Mul" && len(f.inputs) == 2 && only(s, false) {
		for p, r := range f.inputs {
			c := e.nodes[r.node].konst
			if c != nil && c.DType == tensor.Float32 && len(c.Shape) == 0 && len(c.F32) == 1 {
				factor, s = c.F32[0], f.inputs[1-p]
				break
			}
		}
	}
	c2 := conv(s)
	if c2 == nil {
		return nil, nil, "", false
	}
	c1 := conv(c2.inputs[0])
	if c1 == nil {
		return nil, nil, "", false
	}
	f1, f2 := c1.conv.f.Shape, c2.conv.f.Shape
	if f1[3] != f2[2] || f1[2] != f2[3] {
		return nil, nil, "", false
	}
	ch := f1[2]
	m := c1.inputs[0]
	keepDims := true
	if rs := e.nodes[m.node]; rs.op() == "Reshape" {
		if !only(m, false) || !e.isChannelShape(rs.inputs[1], ch) {
			return nil, nil, "", false
		}
		m, keepDims = rs.inputs[0], false
	}
	mn := e.nodes[m.node]
	if mn.op() != "Mean" || len(mn.inputs) != 2 || mn.inputs[0] != x || !only(m, !keepDims) ||
		(attrs{mn.def}).bool("keep_dims", false) != keepDims {
		return nil, nil, "", false
	}
	ax := e.nodes[mn.inputs[1].node].konst
	if ax == nil {
		return nil, nil, "", false
	}
	mask, err := reduceAxes(infoOf(ax), 4)
	if err != nil || !slices.Equal(mask, []bool{false, true, true, false}) {
		return nil, nil, "", false
	}
	k2 = c2.k
	if factor != 1 {
		k2 = scaledKernel(c2.k, factor)
	}
	return c1.k, k2, mn.name(), true
}

// scaledKernel is k (one input, one output, float32) times a constant.
func scaledKernel(k *kernel, factor float32) *kernel {
	return &kernel{
		nOut:  1,
		shape: k.shape,
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			y, err := k.run(in, out)
			if err != nil {
				return nil, err
			}
			for i := range y[0].F32 {
				y[0].F32[i] *= factor
			}
			return y, nil
		},
	}
}

// isChannelShape reports whether r, a Reshape's shape, is [?, 1, 1, ch]:
// a constant, or a Pack whose last three values are constants (Keras
// packs the batch size, read at run time, with its target shape). The
// first value can then only be N.
func (e *Engine) isChannelShape(r ref, ch int) bool {
	want := []int{1, 1, ch}
	if c := e.nodes[r.node].konst; c != nil {
		v, err := ints(infoOf(c), "shape")
		return err == nil && len(v) == 4 && slices.Equal(v[1:], want)
	}
	p := e.nodes[r.node]
	if p.op() != "Pack" || len(p.inputs) != 4 || r.out != 0 {
		return false
	}
	for i, in := range p.inputs[1:] {
		c := e.nodes[in.node].konst
		if c == nil || c.Len() != 1 {
			return false
		}
		v, err := ints(infoOf(c), "shape")
		if err != nil || len(v) != 1 || v[0] != want[i] {
			return false
		}
	}
	return true
}

// seKernel is the fused block on x [N,H,W,C]: m = mean over H and W as
// [N,1,1,C], s = k2(k1(m)), y = x*s broadcast over H and W, written
// over x when inPlace (one memory pass fewer at batch 32, where x is
// larger than the caches).
func seKernel(k1, k2 *kernel, inPlace bool) *kernel {
	return &kernel{
		nOut: 1,
		memory: func(in [][]int, threads int) kernelMem {
			return exciteMemory(k1, k2, in[0], threads)
		},
		shape: func(in []tinfo) ([]tinfo, error) {
			x := in[0]
			if err := requireFloat32(x, "squeeze-and-excitation input"); err != nil {
				return nil, err
			}
			if len(x.shape) != 4 {
				return nil, fmt.Errorf("%w: squeeze-and-excitation input has shape %v, want NHWC", ErrShape, x.shape)
			}
			m := tinfo{dtype: x.dtype, shape: []int{x.shape[0], 1, 1, x.shape[3]}}
			s1, err := k1.shape([]tinfo{m})
			if err != nil {
				return nil, err
			}
			s2, err := k2.shape(s1)
			if err != nil {
				return nil, err
			}
			if !sameShape(s2[0].shape, m.shape) {
				return nil, fmt.Errorf("%w: squeeze-and-excitation scale has shape %v, want %v", ErrShape, s2[0].shape, m.shape)
			}
			return one(x.dtype, x.shape), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			x := in[0]
			s, err := excite(k1, k2, x)
			if err != nil {
				return nil, err
			}
			return []*tensor.Tensor{scaled(x, s, out[0], inPlace)}, nil
		},
	}
}

// excite is the block's scale for x: k2(k1(mean of x over H and W)).
func excite(k1, k2 *kernel, x *tensor.Tensor) (*tensor.Tensor, error) {
	n, hw, c := x.Shape[0], x.Shape[1]*x.Shape[2], x.Shape[3]
	m := tensor.New(x.DType, n, 1, 1, c)
	meanRows(m.F32, x.F32, n, hw, c)
	h, err := runKernel(k1, m)
	if err != nil {
		return nil, err
	}
	return runKernel(k2, h)
}

// exciteMemory is what excite's convolutions hold on x's shape (their
// filters: they are no nodes of the engine any more).
func exciteMemory(k1, k2 *kernel, x []int, threads int) kernelMem {
	if len(x) != 4 || k1.memory == nil || k2.memory == nil {
		return kernelMem{}
	}
	m := []int{x[0], 1, 1, x[3]}
	s1, err := k1.shape([]tinfo{{dtype: tensor.Float32, shape: m}})
	if err != nil {
		return kernelMem{}
	}
	return k1.memory([][]int{m}, threads).plus(k2.memory([][]int{s1[0].shape}, threads))
}

// scaled is x*s, written over x when inPlace, else into a buffer of out.
func scaled(x, s *tensor.Tensor, out tinfo, inPlace bool) *tensor.Tensor {
	y := &tensor.Tensor{DType: x.DType, Shape: x.Shape, F32: x.F32}
	if !inPlace {
		y = allocRaw(tinfo{dtype: x.DType, shape: x.Shape, arena: out.arena}) // scaleRows writes every value
	}
	scaleRows(y.F32, x.F32, s.F32, x.Shape[0], x.Shape[1]*x.Shape[2], x.Shape[3])
	return y
}

// seConvKernel is a block whose output only a fused pointwise convolution
// (kernel conv, spec cs) reads, as one node: on each image the scale
// goes into the filter, (x*s) W = x (diag(s) W), packed once per image,
// where the filter is smaller than the map (2*O <= H*W: the early, large
// maps, where a pass over x costs the most); else x is scaled as
// seKernel does and conv runs on it.
func seConvKernel(k1, k2 *kernel, inPlace bool, conv *kernel, cs *convSpec) *kernel {
	se := seKernel(k1, k2, inPlace)
	return &kernel{
		nOut: 1,
		// Per image it packs a scaled filter, garbage after the call;
		// what stays is conv's and the excitation's.
		memory: func(in [][]int, threads int) kernelMem {
			return conv.memory(in, threads).plus(exciteMemory(k1, k2, in[0], threads))
		},
		shape: func(in []tinfo) ([]tinfo, error) {
			if _, err := se.shape(in[:1]); err != nil {
				return nil, err
			}
			return conv.shape(in)
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			x := in[0]
			s, err := excite(k1, k2, x)
			if err != nil {
				return nil, err
			}
			n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
			o := cs.f.Shape[3]
			if 2*o > h*w || (cs.resid && !sameShape(in[1].Shape, []int{n, h, w, o})) {
				xs := scaled(x, s, out[0], inPlace)
				return conv.run(append([]*tensor.Tensor{xs}, in[1:]...), out)
			}
			g, err := convShape(cs.w, []tinfo{infoOf(x), infoOf(cs.f)}, true)
			if err != nil {
				return nil, err
			}
			g.n = 1
			y := allocRaw(out[0]) // conv2D writes every value
			// Images across workers (conv2D splits one image's rows
			// further when it has the workers to itself: batch 1).
			parallel.For(n, 1, func(lo, hi int) {
				wn := make([]float32, c*o)
				var pb *gemm.PackedB
				for b := lo; b < hi; b++ {
					for ci := range c {
						sc := s.F32[b*c+ci]
						for j, v := range cs.f.F32[ci*o : (ci+1)*o] {
							wn[ci*o+j] = v * sc
						}
					}
					pb = gemm.RepackB(pb, c, o, wn, o)
					ep := cs.ep
					if cs.resid {
						ep.res = in[1].F32[b*h*w*o : (b+1)*h*w*o]
					}
					conv2D(g, x.F32[b*h*w*c:(b+1)*h*w*c], wn, o, y.F32[b*h*w*o:(b+1)*h*w*o], epOrNil(&ep), pb)
				}
			})
			return []*tensor.Tensor{y}, nil
		},
	}
}

// runKernel runs a one-input, one-output kernel on the heap.
func runKernel(k *kernel, x *tensor.Tensor) (*tensor.Tensor, error) {
	oi, err := k.shape([]tinfo{infoOf(x)})
	if err != nil {
		return nil, err
	}
	out, err := k.run([]*tensor.Tensor{x}, oi)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// tileRows is how many rows of c values the row loops take per vector
// call: short rows (c = 32) would otherwise spend more time in the
// calls than in the arithmetic.
func tileRows(c int) int { return max(1, 1024/c) }

// meanRows sets dst[b*c+j] to the mean over r < hw of x[(b*hw+r)*c+j].
// Each image's rows are split into chunks, one per worker when there are
// fewer images than workers (batch 1); a chunk is summed tile by tile
// (tileRows rows as one vector) into an accumulator whose rows are folded
// at the end, and the chunks' sums are added in chunk order.
func meanRows(dst, x []float32, n, hw, c int) {
	if n == 0 || c == 0 {
		return
	}
	chunks := 1
	if w := runtime.GOMAXPROCS(0); n < w {
		chunks = min((w+n-1)/n, max(1, hw*c/(1<<14)))
	}
	per := (hw + chunks - 1) / chunks
	k := min(tileRows(c), max(per, 1))
	part := make([]float32, n*chunks*c)
	parallel.For(n*chunks, parallel.Grain(per*c), func(lo, hi int) {
		acc := make([]float32, k*c)
		for t := lo; t < hi; t++ {
			b, ch := t/chunks, t%chunks
			r0, r1 := ch*per, min((ch+1)*per, hw)
			clear(acc)
			r := r0
			for ; r+k <= r1; r += k {
				addMulF32(opAdd, acc, acc, x[(b*hw+r)*c:][:k*c], 1, 1)
			}
			for ; r < r1; r++ {
				addMulF32(opAdd, acc[:c], acc[:c], x[(b*hw+r)*c:][:c], 1, 1)
			}
			sum := part[t*c : (t+1)*c]
			copy(sum, acc[:c])
			for i := 1; i < k; i++ {
				addMulF32(opAdd, sum, sum, acc[i*c:][:c], 1, 1)
			}
		}
	})
	for b := range n {
		d := dst[b*c : (b+1)*c]
		copy(d, part[b*chunks*c:][:c])
		for ch := 1; ch < chunks; ch++ {
			addMulF32(opAdd, d, d, part[(b*chunks+ch)*c:][:c], 1, 1)
		}
		for j := range d {
			d[j] /= float32(hw) // as Mean divides: an empty map gives NaN
		}
	}
}

// scaleRows sets y[(b*hw+r)*c+j] = x[(b*hw+r)*c+j] * s[b*c+j], split
// across workers by tiles of tileRows pixels, each one vector multiply by
// s repeated.
func scaleRows(y, x, s []float32, n, hw, c int) {
	if c == 0 || hw == 0 {
		return
	}
	k := min(tileRows(c), hw)
	tiles := (hw + k - 1) / k
	parallel.For(n*tiles, parallel.Grain(k*c), func(lo, hi int) {
		rep := make([]float32, k*c)
		last := -1
		for t := lo; t < hi; t++ {
			b, r0 := t/tiles, t%tiles*k
			if b != last {
				for i := range k {
					copy(rep[i*c:], s[b*c:][:c])
				}
				last = b
			}
			o, m := (b*hw+r0)*c, (min(r0+k, hw)-r0)*c
			addMulF32(opMul, y[o:o+m], x[o:o+m], rep[:m], 1, 1)
		}
	})
}
