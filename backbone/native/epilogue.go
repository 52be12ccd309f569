package native

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/parallel"
)

// actKind is the activation a fused convolution ends with.
type actKind int

const (
	actNone actKind = iota
	actRelu
	actRelu6
	actSwish // x*sigmoid(beta*x)
	actSigmoid
)

// epilogue is what a fused convolution applies to each block of output
// pixels while it is still in cache: a bias per channel, a residual with
// the output's layout, then an activation. A nil *epilogue does nothing.
type epilogue struct {
	bias []float32 // nil: none
	act  actKind
	beta float32   // actSwish's
	res  []float32 // set per run; nil: none
}

// apply finishes pixels [p0, p1) of y, o channels each.
func (ep *epilogue) apply(y []float32, o, p0, p1 int) {
	if ep == nil || p0 >= p1 || o == 0 {
		return
	}
	lo, hi := p0*o, p1*o
	ys := y[lo:hi]
	if ep.res != nil {
		for i, v := range ep.res[lo:hi] {
			ys[i] += v
		}
	}
	bias := ep.bias
	if bias == nil {
		bias = make([]float32, o)
	}
	switch ep.act {
	case actSwish:
		biasClamp(ys, bias, o, actNone)
		sigmoidMul(ys, ep.beta, true)
	case actSigmoid:
		biasClamp(ys, bias, o, actNone)
		sigmoidMul(ys, 1, false)
	default:
		biasClamp(ys, bias, o, ep.act)
	}
}

// gemmAt is the part of ep a GEMM applies as it stores rows p0... of y
// (o channels each): the bias, the residual, ReLU's or ReLU6's clamp. The
// residual is added after the bias, as TensorFlow's BiasAdd then AddV2.
func (ep *epilogue) gemmAt(p0, o int) *gemm.Epilogue {
	if ep == nil {
		return nil
	}
	ge := &gemm.Epilogue{Bias: ep.bias}
	if ep.res != nil {
		ge.Res, ge.ResStride = ep.res[p0*o:], o
	}
	if ep.act == actRelu || ep.act == actRelu6 {
		ge.Clamp = true
		ge.Lo, ge.Hi = ep.act.limits()
	}
	return ge
}

// hasPost says whether ep needs post after the GEMM's part.
func (ep *epilogue) hasPost() bool {
	return ep != nil && (ep.act == actSwish || ep.act == actSigmoid)
}

// post finishes pixels [p0, p1) of y after a GEMM applied gemmAt: the
// sigmoid or swish that no GEMM store does.
func (ep *epilogue) post(y []float32, o, p0, p1 int) {
	if !ep.hasPost() || p0 >= p1 {
		return
	}
	if ep.act == actSwish {
		sigmoidMul(y[p0*o:p1*o], ep.beta, true)
		return
	}
	sigmoidMul(y[p0*o:p1*o], 1, false)
}

// limits are the bounds an activation clamps to.
func (a actKind) limits() (lo, hi float32) {
	inf := float32(math.Inf(1))
	switch a {
	case actRelu:
		return 0, inf
	case actRelu6:
		return 0, 6
	}
	return -inf, inf
}

// biasClamp adds bias (o values) to each row of y and clamps to the
// activation's limits, with the vector loop where the CPU has one.
func biasClamp(y, bias []float32, o int, act actKind) {
	if len(y)%o != 0 || len(bias) < o {
		panic(fmt.Sprintf("native: biasClamp of %d values, %d channels, %d biases", len(y), o, len(bias)))
	}
	lo, hi := act.limits()
	if hasVec && len(y) > 0 {
		biasClampAsm(&y[0], &bias[0], len(y)/o, o, lo, hi)
		return
	}
	for i := 0; i < len(y); i += o {
		row := y[i : i+o]
		for j, b := range bias[:o] {
			row[j] = min(max(row[j]+b, lo), hi)
		}
	}
}

// expTable holds sigmoidAsm's constants, 8 copies each (see vec_amd64.s).
var expTable = func() (t [14][8]float32) {
	for i, v := range []float32{-88.3762626647949, 88.3762626647949, 1.44269504088896341, 0.5, 0.693359375, -2.12194440e-4,
		1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, 1} {
		for j := range t[i] {
			t[i][j] = v
		}
	}
	for j := range t[13] {
		t[13][j] = math.Float32frombits(127) // an int32 in the vector's lanes
	}
	return t
}()

// avx2Only keeps sigmoidMul and depthwise off the AVX-512 loops (tests
// run both).
var avx2Only = false

// sigmoidMul sets y[i] to sigmoid(beta*y[i]), times y[i] when mul (swish).
// The vector loop's exp is within a few float32 ulps of math.Exp's.
func sigmoidMul(y []float32, beta float32, mul bool) {
	n := 0
	if hasVec {
		n = len(y) / 8 * 8
		m := 0
		if mul {
			m = 1
		}
		n16 := 0
		if has512 && !avx2Only {
			n16 = len(y) / 16 * 16
			if n16 > 0 {
				sigmoid512Asm(&y[0], n16, -beta, m, &expTable)
			}
		}
		if n > n16 {
			sigmoidAsm(&y[n16], n-n16, -beta, m, &expTable)
		}
	}
	for i, v := range y[n:] {
		s := float32(sigmoid(float64(beta * v)))
		if mul {
			s *= v
		}
		y[n+i] = s
	}
}

// fmadd adds x[i]*f[i] to dst[i].
func fmadd(dst, x, f []float32) {
	n := len(dst)
	if len(x) < n || len(f) < n {
		panic(fmt.Sprintf("native: fmadd of %d values with %d and %d", n, len(x), len(f)))
	}
	if hasVec && n > 0 {
		fmaddAsm(&dst[0], &x[0], &f[0], n)
		return
	}
	for i, v := range x[:n] {
		dst[i] += v * f[i]
	}
}

// epOrNil is ep, or nil when it would change nothing (a convolution fused
// only to pack its filter once).
func epOrNil(ep *epilogue) *epilogue {
	if ep.bias == nil && ep.res == nil && ep.act == actNone {
		return nil
	}
	return ep
}

// applyAll runs apply over all of y, split across workers.
func (ep *epilogue) applyAll(y []float32, o int) {
	if ep == nil || o == 0 {
		return
	}
	parallel.For(len(y)/o, parallel.Grain(o), func(lo, hi int) { ep.apply(y, o, lo, hi) })
}

// fusedConvKernel is cs's Conv2D or DepthwiseConv2dNative (cs.dw) with a
// constant filter followed by its epilogue; with cs.resid the node's second
// input is the residual. A residual that does not have the convolution's
// shape (a broadcast, never seen in Keras graphs) is added the unfused way.
func fusedConvKernel(cs *convSpec) *kernel {
	w, f, dw, ep, resid := cs.w, cs.f, cs.dw, cs.ep, cs.resid
	fi := infoOf(f)
	// The filter as the GEMM's packed B, once (plain, ungrouped Conv2D).
	var pb *gemm.PackedB
	var wf *winoFilter // 3x3 stride 1: Winograd (winograd.go)
	if !dw {
		pb = gemm.PackB(f.Shape[0]*f.Shape[1]*f.Shape[2], f.Shape[3], f.F32, f.Shape[3])
		wf = newWinoFilter(w, f)
	}
	// The packed filter, made here; Winograd's at its first run.
	var packed int64
	if !dw {
		packed = gemm.PackedBytes(f.Shape[0]*f.Shape[1]*f.Shape[2], f.Shape[3])
	}
	convOut := func(x tinfo) (tinfo, geom, error) {
		g, err := convShape(w, []tinfo{x, fi}, !dw)
		if err != nil {
			return tinfo{}, g, err
		}
		o := f.Shape[3]
		if dw {
			o *= g.c
		}
		return tinfo{dtype: x.dtype, shape: []int{g.n, g.oh, g.ow, o}}, g, nil
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			c, _, err := convOut(in[0])
			if err != nil || !resid {
				return []tinfo{c}, err
			}
			if err := requireFloat32(in[1], "residual"); err != nil {
				return nil, err
			}
			return binaryShape(opAdd, c, in[1])
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			c, g, err := convOut(infoOf(in[0]))
			if err != nil {
				return nil, err
			}
			o := c.shape[3]
			c.arena = out[0].arena
			y := allocRaw(c) // every convolution path writes all of y
			run := ep
			direct := !resid || sameShape(in[1].Shape, c.shape)
			if resid && direct {
				run.res = in[1].F32
			}
			if !direct {
				run.act = actNone
			}
			switch {
			case dw:
				depthwise(g, in[0].F32, f.F32, f.Shape[3], y.F32, epOrNil(&run))
			case g.c != f.Shape[2]:
				groupedConv(g, in[0].F32, f.F32, o, g.c/f.Shape[2], y.F32)
				run.applyAll(y.F32, o)
			case wf.conv(g, in[0].F32, y.F32, epOrNil(&run)): // ran, or false
			default:
				conv2D(g, in[0].F32, f.F32, o, y.F32, epOrNil(&run), pb)
			}
			if direct {
				return []*tensor.Tensor{y}, nil
			}
			sum, err := binary(opAdd, y, in[1], out[0])
			if err != nil {
				return nil, err
			}
			(&epilogue{act: ep.act}).applyAll(sum.F32, out[0].shape[len(out[0].shape)-1])
			return []*tensor.Tensor{sum}, nil
		},
		memory: func(in [][]int, threads int) kernelMem {
			// The filter, batch norm folded in, and the bias (new, or
			// the graph's constants).
			held := [][]float32{f.F32, ep.bias}
			_, g, err := convOut(tinfo{dtype: tensor.Float32, shape: in[0]})
			if err != nil || dw {
				return kernelMem{consts: held}
			}
			mem, ok := wf.memory(g, threads)
			if !ok {
				mem = convMemory(g, f.Shape[2], threads, false)
			}
			mem.kept += packed
			mem.consts = held
			return mem
		},
	}
}
