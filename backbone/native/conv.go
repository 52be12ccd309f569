package native

import (
	"fmt"
	"math"
	"sync"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/parallel"
)

func init() {
	register("Conv2D", 2, 2, buildConv2D)
	register("DepthwiseConv2dNative", 2, 2, buildDepthwise)
}

// convShape validates input and filter and resolves the geometry; the
// filter is [KH, KW, C, X] for both convolutions.
func convShape(w window, in []tinfo, grouped bool) (geom, error) {
	for i, what := range []string{"input", "filter"} {
		if err := requireFloat32(in[i], what); err != nil {
			return geom{}, err
		}
	}
	f := in[1].shape
	if len(f) != 4 {
		return geom{}, fmt.Errorf("%w: filter has shape %v, want [kh, kw, in_channels, out]", ErrShape, f)
	}
	g, err := w.resolve(in[0].shape, f[0], f[1])
	if err != nil {
		return g, err
	}
	if f[2] == g.c {
		return g, nil
	}
	// TensorFlow's Conv2D groups the channels when the filter's input
	// depth divides the input's (Keras groups=, ConvNeXt's depthwise).
	if !grouped || f[2] == 0 || g.c%f[2] != 0 || f[3]%(g.c/f[2]) != 0 {
		return g, fmt.Errorf("%w: filter %v expects %d input channels, input %v has %d", ErrShape, f, f[2], in[0].shape, g.c)
	}
	return g, nil
}

func buildConv2D(c *buildCtx) (*kernel, error) {
	w, err := parseWindow(c.a, true)
	if err != nil {
		return nil, err
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			g, err := convShape(w, in, true)
			if err != nil {
				return nil, err
			}
			return one(in[0].dtype, []int{g.n, g.oh, g.ow, in[1].shape[3]}), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			g, err := convShape(w, []tinfo{infoOf(in[0]), infoOf(in[1])}, true)
			if err != nil {
				return nil, err
			}
			y := allocRaw(out[0]) // the convolutions write every value
			if groups := g.c / in[1].Shape[2]; groups > 1 {
				groupedConv(g, in[0].F32, in[1].F32, in[1].Shape[3], groups, y.F32)
			} else {
				conv2D(g, in[0].F32, in[1].F32, in[1].Shape[3], y.F32, nil, nil)
			}
			return []*tensor.Tensor{y}, nil
		},
		memory: func(in [][]int, threads int) kernelMem {
			g, err := convShape(w, []tinfo{{dtype: tensor.Float32, shape: in[0]}, {dtype: tensor.Float32, shape: in[1]}}, true)
			if err != nil {
				return kernelMem{}
			}
			return convMemory(g, in[1][2], threads, true)
		},
	}, nil
}

// im2colBudget bounds the im2col buffer (in float32s, 1 MiB): the rows are
// convolved in chunks whose patch matrix stays in cache between im2col and
// GEMM, which measured faster than one large matrix (and bounds memory).
const im2colBudget = 1 << 18

// colPool keeps im2col buffers between convolutions: allocating (and
// faulting in) a fresh megabyte per layer and core cost more than the
// copies that fill it.
var colPool = sync.Pool{New: func() any { return new([]float32) }}

// pointwiseRows is how many output pixels a pointwise convolution computes
// per GEMM call with an epilogue: a block of 64 KiB floats stays in L2
// between the GEMM and the epilogue.
const pointwiseRows = 1 << 14

// minRows is the fewest rows a GEMM call gets when a convolution is cut in
// blocks: the GEMM streams all of the filter once per such block, so fewer
// rows would make it memory-bound (the packed GEMM's MC).
const minRows = 144

// conv2D computes y = conv(x, f) as a GEMM: each output pixel's receptive
// field becomes one row of an im2col matrix whose (ky, kx, c) order matches
// the filter's [KH, KW, C, O] layout, so the filter is used as is. ep (nil:
// none) is applied by the GEMM as it stores y (bias, residual, ReLU), a
// sigmoid or swish in a pass over each block of rows right after. pb, when not
// nil, is f packed once (gemm.PackB) for a filter used by every batch.
// Every value of y is written (the GEMM's first block of k stores), so y
// need not come zeroed.
func conv2D(g geom, x, f []float32, o int, y []float32, ep *epilogue, pb *gemm.PackedB) {
	m := g.n * g.oh * g.ow
	k := g.kh * g.kw * g.c
	if m == 0 || o == 0 {
		return
	}
	if pb != nil {
		if pk, pn := pb.Dims(); pk != k || pn != o {
			pb = nil
		}
	}
	// mul sets rows [r0, r0+rows) of y to the rows of the im2col matrix a
	// times f, finished by the GEMM's part of ep.
	mul := func(r0, rows int, a []float32) {
		ge := ep.gemmAt(r0, o)
		if pb != nil {
			pb.MulSet(rows, a, k, y[r0*o:], o, ge)
			return
		}
		gemm.SgemmEp(false, false, rows, o, k, 1, a, k, f, o, 0, y[r0*o:], o, ge)
	}
	if k == 0 {
		clear(y)
		ep.applyAll(y, o)
		return
	}
	if g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.oh == g.h && g.ow == g.w {
		// Pointwise conv: the input already is the im2col matrix.
		if !ep.hasPost() {
			mul(0, m, x)
			return
		}
		rows := max(minRows, pointwiseRows/o)
		parallel.For(m, rows, func(lo, hi int) {
			for r0 := lo; r0 < hi; r0 += rows {
				r1 := min(r0+rows, hi)
				mul(r0, r1-r0, x[r0*k:])
				ep.post(y, o, r0, r1)
			}
		})
		return
	}
	// Each core convolves its share of the output rows chunk by chunk
	// (im2col, then GEMM): one core's im2col overlaps another's GEMM, and
	// each patch matrix is still in cache when the GEMM reads it.
	chunk, grain := im2colPlan(m, k)
	if pb != nil && pb.SplitsColumns(m) {
		// Few output pixels (a 7x7 map at batch 1): one block of rows, as
		// the GEMM splits the filter's columns across the workers; split
		// by rows first, each worker would stream the whole filter for a
		// short, padded panel.
		grain = m
	}
	parallel.For(m, grain, func(lo, hi int) {
		buf := colPool.Get().(*[]float32)
		defer colPool.Put(buf)
		if cap(*buf) < min(chunk, hi-lo)*k {
			*buf = make([]float32, min(chunk, hi-lo)*k)
		}
		col := (*buf)[:min(chunk, hi-lo)*k]
		for r0 := lo; r0 < hi; r0 += chunk {
			r1 := min(r0+chunk, hi)
			for r := r0; r < r1; r++ {
				im2colRow(g, x, col[(r-r0)*k:(r-r0+1)*k], r)
			}
			mul(r0, r1-r0, col)
			ep.post(y, o, r0, r1)
		}
	})
}

// im2colPlan is how conv2D cuts m output rows of k patch values each:
// chunk rows an im2col buffer, and the grain of its workers.
func im2colPlan(m, k int) (chunk, grain int) {
	chunk = min(m, max(minRows, im2colBudget/k))
	return chunk, min(chunk, parallel.Grain(k))
}

// conv2DMemory is what conv2D holds on g with threads workers: the
// largest im2col buffer one worker takes from colPool (none for a
// pointwise convolution, which reads its input as it is) and the GEMM's
// pooled buffers (with B packed beforehand unless unpacked).
func conv2DMemory(g geom, threads int, unpacked bool) kernelMem {
	mem := kernelMem{gemm: true, gemmB: unpacked}
	m, k := g.n*g.oh*g.ow, g.kh*g.kw*g.c
	if m == 0 || k == 0 || g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.oh == g.h && g.ow == g.w {
		return mem
	}
	chunk, grain := im2colPlan(m, k)
	_, block := parallel.Split(m, grain, threads)
	mem.col = 4 * int64(min(chunk, block)*k)
	return mem
}

// convMemory is conv2DMemory for a Conv2D whose filter has fc input
// channels: grouped where fc < g.c (groupedConv: depthwise for one
// channel a group, else conv2D on each group's channels, B unpacked).
func convMemory(g geom, fc, threads int, unpacked bool) kernelMem {
	if fc != g.c {
		if fc == 1 {
			return kernelMem{}
		}
		g.c, unpacked = fc, true
	}
	return conv2DMemory(g, threads, unpacked)
}

// groupedConv is Conv2D with a [KH, KW, C/G, O] filter: group k convolves
// input channels [k*C/G, (k+1)*C/G) into outputs [k*O/G, (k+1)*O/G).
func groupedConv(g geom, x, f []float32, o, groups int, y []float32) {
	cg, og := g.c/groups, o/groups
	if cg == 1 {
		// One input channel per group is a depthwise convolution with
		// multiplier og, and the filter already has its layout.
		depthwise(g, x, f, og, y, nil)
		return
	}
	sub := g
	sub.c = cg
	pix, opix := g.n*g.h*g.w, g.n*g.oh*g.ow
	xg, fg, yg := make([]float32, pix*cg), make([]float32, g.kh*g.kw*cg*og), make([]float32, opix*og)
	for k := range groups {
		for p := range pix {
			copy(xg[p*cg:(p+1)*cg], x[p*g.c+k*cg:])
		}
		for r := range g.kh * g.kw * cg {
			copy(fg[r*og:(r+1)*og], f[r*o+k*og:])
		}
		conv2D(sub, xg, fg, og, yg, nil, nil)
		for p := range opix {
			copy(y[p*o+k*og:p*o+(k+1)*og], yg[p*og:])
		}
	}
}

// im2colRow writes the receptive field of output pixel r (over n, oy, ox)
// into dst, zero where it reaches into padding.
func im2colRow(g geom, x, dst []float32, r int) {
	ox := r % g.ow
	oy := (r / g.ow) % g.oh
	n := r / (g.ow * g.oh)
	iy0, ox0 := oy*g.sh-g.pt, ox*g.sw-g.pl
	// Undilated and inside the image horizontally, a kernel row is one
	// contiguous run of kw*c input values: copy it at once.
	whole := g.dw == 1 && ox0 >= 0 && ox0+g.kw <= g.w
	run := g.kw * g.c
	for ky := range g.kh {
		iy := iy0 + ky*g.dh
		if whole && iy >= 0 && iy < g.h {
			s := ((n*g.h+iy)*g.w + ox0) * g.c
			copy(dst[ky*run:(ky+1)*run], x[s:s+run])
			continue
		}
		for kx := range g.kw {
			ix := ox0 + kx*g.dw
			d := dst[(ky*g.kw+kx)*g.c : (ky*g.kw+kx+1)*g.c]
			if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
				clear(d)
				continue
			}
			s := ((n*g.h+iy)*g.w + ix) * g.c
			copy(d, x[s:s+g.c])
		}
	}
}

func buildDepthwise(c *buildCtx) (*kernel, error) {
	w, err := parseWindow(c.a, true)
	if err != nil {
		return nil, err
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			g, err := convShape(w, in, false)
			if err != nil {
				return nil, err
			}
			return one(in[0].dtype, []int{g.n, g.oh, g.ow, g.c * in[1].shape[3]}), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			g, err := convShape(w, []tinfo{infoOf(in[0]), infoOf(in[1])}, false)
			if err != nil {
				return nil, err
			}
			y := allocRaw(out[0]) // depthwise writes every value
			depthwise(g, in[0].F32, in[1].F32, in[1].Shape[3], y.F32, nil)
			return []*tensor.Tensor{y}, nil
		},
	}, nil
}

// depthwise convolves each input channel c with its own mult filters;
// output channel c*mult+m, as TensorFlow orders them. Output rows are split
// across workers; ep (nil: none) finishes each row once computed. Every
// output value is written, so y need not come zeroed.
func depthwise(g geom, x, f []float32, mult int, y []float32, ep *epilogue) {
	co := g.c * mult
	if mult == 1 && hasVec && g.c%16 == 0 && g.c > 0 {
		depthwiseDirect(g, x, f, y, ep)
		return
	}
	parallel.For(g.rows(), parallel.Grain(g.ow*co*g.kh*g.kw), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, oy := r/g.oh, r%g.oh
			iy0, ky0, ky1 := span(oy, g.sh, g.pt, g.dh, g.kh, g.h)
			for ox := range g.ow {
				ix0, kx0, kx1 := span(ox, g.sw, g.pl, g.dw, g.kw, g.w)
				acc := y[((n*g.oh+oy)*g.ow+ox)*co:][:co]
				clear(acc)
				for ky := ky0; ky < ky1; ky++ {
					iy := iy0 + ky*g.dh
					for kx := kx0; kx < kx1; kx++ {
						ix := ix0 + kx*g.dw
						xs := x[((n*g.h+iy)*g.w+ix)*g.c:][:g.c]
						fs := f[(ky*g.kw+kx)*co:][:co]
						if mult == 1 {
							fmadd(acc, xs, fs)
							continue
						}
						for c, v := range xs {
							a, fm := acc[c*mult:][:mult], fs[c*mult:][:mult]
							for m := range a {
								a[m] += v * fm[m]
							}
						}
					}
				}
			}
			ep.apply(y, co, r*g.ow, (r+1)*g.ow)
		}
	})
}

// depthwiseDirect is depthwise with multiplier 1 on dwAsm (dw512Asm for a
// multiple of 32 channels on AVX-512F): each output
// pixel's sums stay in registers over all its taps and are stored once,
// with the bias and a ReLU or ReLU6 clamp applied on the way out; a
// sigmoid or swish runs over the row after, while it is in cache.
func depthwiseDirect(g geom, x, f, y []float32, ep *epilogue) {
	c := g.c
	zero := make([]float32, c)
	bias, lo, hi := zero, float32(math.Inf(-1)), float32(math.Inf(1))
	var post func(r int) // finishes output row r
	switch {
	case ep == nil:
	case ep.res != nil: // the residual comes before the bias: ep does it all
		post = func(r int) { ep.apply(y, c, r*g.ow, (r+1)*g.ow) }
	default:
		if ep.bias != nil {
			bias = ep.bias
		}
		switch ep.act {
		case actSwish:
			post = func(r int) { sigmoidMul(y[r*g.ow*c:(r+1)*g.ow*c], ep.beta, true) }
		case actSigmoid:
			post = func(r int) { sigmoidMul(y[r*g.ow*c:(r+1)*g.ow*c], 1, false) }
		default:
			lo, hi = ep.act.limits()
		}
	}
	// Output columns [oxA, oxB) see every kernel column: they share one
	// tap list and run four at a time; the columns nearer the edges get
	// a list of their own.
	oxA := min(g.ow, (g.pl+g.sw-1)/g.sw)
	oxB := oxA
	if last := g.w - 1 - (g.kw-1)*g.dw + g.pl; last >= 0 {
		oxB = max(oxA, min(g.ow, last/g.sw+1))
	}
	dw := dwAsm
	if has512 && !avx2Only && c%32 == 0 {
		dw = dw512Asm
	}
	const fb = 4 // bytes per float32
	parallel.For(g.rows(), parallel.Grain(g.ow*c*g.kh*g.kw), func(lo0, hi0 int) {
		taps := make([]int, 2*g.kh*g.kw)
		for r := lo0; r < hi0; r++ {
			n, oy := r/g.oh, r%g.oh
			iy0, ky0, ky1 := span(oy, g.sh, g.pt, g.dh, g.kh, g.h)
			row := y[r*g.ow*c : (r+1)*g.ow*c]
			img := n * g.h * g.w * c // image n's first value in x
			// list fills taps for kernel columns [kx0, kx1) with x offsets
			// from column ix0's pixel (ix0 == 0 for the edge columns).
			list := func(kx0, kx1, ix0 int) int {
				t := 0
				for ky := ky0; ky < ky1; ky++ {
					for kx := kx0; kx < kx1; kx++ {
						taps[2*t] = ((iy0+ky*g.dh)*g.w + kx*g.dw + ix0) * c * fb
						taps[2*t+1] = (ky*g.kw + kx) * c * fb
						t++
					}
				}
				return t
			}
			for ox := 0; ox < g.ow; ox++ {
				if ox == oxA && oxB > oxA {
					if nt := list(0, g.kw, 0); nt > 0 {
						ix := oxA*g.sw - g.pl
						dw(&row[oxA*c], &x[img+ix*c], &taps[0], &f[0], nt, oxB-oxA, g.sw*c*fb, c, &bias[0], lo, hi)
					} else {
						biasRows(row[oxA*c:oxB*c], bias, lo, hi)
					}
					ox = oxB - 1
					continue
				}
				ix0, kx0, kx1 := span(ox, g.sw, g.pl, g.dw, g.kw, g.w)
				if nt := list(kx0, kx1, ix0); nt > 0 {
					dw(&row[ox*c], &x[img], &taps[0], &f[0], nt, 1, 0, c, &bias[0], lo, hi)
				} else {
					biasRows(row[ox*c:(ox+1)*c], bias, lo, hi)
				}
			}
			if post != nil {
				post(r)
			}
		}
	})
}

// biasRows sets each row of y (len(bias) values) to bias clamped to
// [lo, hi]: an output pixel whose window lies wholly in the padding.
func biasRows(y, bias []float32, lo, hi float32) {
	for i := 0; i < len(y); i += len(bias) {
		for j, b := range bias {
			y[i+j] = min(max(b, lo), hi)
		}
	}
}
