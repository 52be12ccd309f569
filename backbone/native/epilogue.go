package native

import (
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/parallel"
)

// actKind is the activation a fused convolution ends with.
type actKind int

const (
	actNone actKind = iota
	actRelu
	actRelu6
)

// epilogue is what a fused convolution applies to each block of output
// pixels while it is still in cache: a bias per channel, a residual with
// the output's layout, then an activation. A nil *epilogue does nothing.
type epilogue struct {
	bias []float32 // nil: none
	act  actKind
	res  []float32 // set per run; nil: none
}

// apply finishes pixels [p0, p1) of y, o channels each.
func (ep *epilogue) apply(y []float32, o, p0, p1 int) {
	if ep == nil || p0 >= p1 {
		return
	}
	lo, hi := p0*o, p1*o
	ys := y[lo:hi]
	if ep.res != nil {
		rs := ep.res[lo:hi]
		for i, v := range rs {
			ys[i] += v
		}
	}
	if ep.bias != nil {
		for i := 0; i < len(ys); i += o {
			row := ys[i : i+o]
			for j, b := range ep.bias[:len(row)] {
				row[j] += b
			}
		}
	}
	switch ep.act {
	case actRelu:
		for i, v := range ys {
			ys[i] = max(v, 0)
		}
	case actRelu6:
		for i, v := range ys {
			ys[i] = min(max(v, 0), 6)
		}
	}
}

// applyAll runs apply over all of y, split across workers.
func (ep *epilogue) applyAll(y []float32, o int) {
	if ep == nil || o == 0 {
		return
	}
	parallel.For(len(y)/o, parallel.Grain(o), func(lo, hi int) { ep.apply(y, o, lo, hi) })
}

// fusedConvKernel is a Conv2D or DepthwiseConv2dNative with a constant
// filter f followed by ep; with resid the node's second input is the
// residual. A residual that does not have the convolution's shape (a
// broadcast, never seen in Keras graphs) is added the unfused way.
func fusedConvKernel(w window, f *tensor.Tensor, dw bool, ep epilogue, resid bool) *kernel {
	fi := infoOf(f)
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
			y := alloc(c)
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
				depthwise(g, in[0].F32, f.F32, f.Shape[3], y.F32, &run)
			case g.c != f.Shape[2]:
				groupedConv(g, in[0].F32, f.F32, o, g.c/f.Shape[2], y.F32)
				run.applyAll(y.F32, o)
			default:
				conv2D(g, in[0].F32, f.F32, o, y.F32, &run)
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
	}
}
