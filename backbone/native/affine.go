package native

import (
	"slices"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/parallel"
)

// affineOp names a fused chain of per-channel arithmetic in profiles and
// errors; it is no TensorFlow op.
const affineOp = "ChannelAffine"

// affine is y = x*scale + bias, scale and bias broadcasting along the last
// axis only (one value, or one per channel), as rank-minimum [1,...,1,L]
// constants would.
type affine struct {
	scale, bias []float32
	rank        int // the largest constant's rank: the output's at least
}

// fuseChannelAffine replaces each chain of two or more Mul, Add, AddV2,
// Sub and RealDiv nodes that each take one constant broadcasting along
// the last axis (a Keras Rescaling and Normalization at a model's input:
// x*a + b, then (x - mean) / std on 3 channels) by one node that reads the
// chain's input and makes one vectorised pass. Every tensor inside the
// chain must be read only by the next node and not fetched. Run after
// fuseConvs, which takes such ops after a convolution itself.
func (e *Engine) fuseChannelAffine() {
	rd, fetched := e.readers()
	taken := make([]bool, len(e.nodes))
	for i, n := range e.nodes {
		if taken[i] || n.k == nil {
			continue
		}
		af := &affine{scale: []float32{1}, bias: []float32{0}}
		x, ok := e.affineStep(af, i, -1)
		if !ok {
			continue
		}
		chain, cur := []int{i}, i
		for !fetched[cur][0] && len(rd[cur]) == 1 && len(rd[cur][0]) == 1 {
			u := rd[cur][0][0].node
			if taken[u] {
				break
			}
			if _, ok := e.affineStep(af, u, cur); !ok {
				break
			}
			chain, cur = append(chain, u), u
		}
		if len(chain) < 2 {
			continue
		}
		last := e.nodes[cur]
		for _, j := range chain {
			taken[j] = true
			// The consts lose a reader; the chain's inner links die
			// with their nodes (compact).
			for _, r := range e.nodes[j].inputs {
				if r != x && !slices.Contains(chain, r.node) {
					e.nodes[r.node].uses[r.out]--
				}
			}
			if j != cur {
				e.nodes[j].inputs = nil
				clear(e.nodes[j].uses)
			}
		}
		def := proto.Clone(last.def).(*framework.NodeDef)
		def.Op = affineOp
		last.def, last.k, last.inputs, last.fused = def, affineKernel(af), []ref{x}, n.name()
	}
}

// affineStep folds node i into af when it is one of the chain's ops with
// one float32 constant that broadcasts along the last axis; prev is the
// node whose output the chain continues from (-1: whatever is not the
// constant, which it returns). It leaves af as it was when it says no.
func (e *Engine) affineStep(af *affine, i, prev int) (ref, bool) {
	n := e.nodes[i]
	switch n.op() {
	case "Mul", "Add", "AddV2", "Sub", "RealDiv":
	default:
		return ref{}, false
	}
	if len(n.inputs) != 2 {
		return ref{}, false
	}
	pos := -1 // the input that is not the constant
	for p, r := range n.inputs {
		if e.nodes[r.node].konst == nil && (prev < 0 || r.node == prev) {
			pos = p
		}
	}
	if pos < 0 || (prev >= 0 && n.inputs[pos].out != 0) {
		return ref{}, false
	}
	c := e.nodes[n.inputs[1-pos].node].konst
	if c == nil || c.DType != tensor.Float32 || len(c.F32) != c.Len() || c.Len() == 0 || len(c.Shape) > 8 {
		return ref{}, false
	}
	for j, d := range c.Shape {
		if d != 1 && j != len(c.Shape)-1 {
			return ref{}, false
		}
	}
	l := max(len(af.scale), len(c.F32))
	if (len(af.scale) != 1 && len(af.scale) != l) || (len(c.F32) != 1 && len(c.F32) != l) {
		return ref{}, false
	}
	if n.op() == "RealDiv" && pos != 0 {
		return ref{}, false // c / x is not affine in x
	}
	s, b := make([]float32, l), make([]float32, l)
	for j := range l {
		s[j], b[j] = af.scale[j%len(af.scale)], af.bias[j%len(af.bias)]
		v := c.F32[j%len(c.F32)]
		switch {
		case n.op() == "Mul":
			s[j], b[j] = s[j]*v, b[j]*v
		case n.op() == "RealDiv":
			s[j], b[j] = s[j]/v, b[j]/v
		case n.op() == "Sub" && pos == 1: // c - x
			s[j], b[j] = -s[j], v-b[j]
		case n.op() == "Sub":
			b[j] -= v
		default:
			b[j] += v
		}
	}
	af.scale, af.bias, af.rank = s, b, max(af.rank, len(c.Shape))
	return n.inputs[pos], true
}

// affineKernel runs af: on float32 x whose last axis matches, one pass in
// tiles of the per-channel values repeated; anything else (a broadcast
// that grows x, another dtype) through the ordinary broadcasting ops,
// which agree with the chain on shapes and errors.
func affineKernel(af *affine) *kernel {
	l := len(af.scale)
	shape := make([]int, af.rank) // all constants scalars: a scalar
	for i := range shape {
		shape[i] = 1
	}
	if af.rank > 0 {
		shape[af.rank-1] = l
	}
	st, bt := &tensor.Tensor{DType: tensor.Float32, Shape: shape, F32: af.scale}, &tensor.Tensor{DType: tensor.Float32, Shape: shape, F32: af.bias}
	tile := l * max(1, 1024/l)
	rs, rb := make([]float32, tile), make([]float32, tile)
	for i := range tile {
		rs[i], rb[i] = af.scale[i%l], af.bias[i%l]
	}
	fast := func(x tinfo) bool {
		r := len(x.shape)
		return x.dtype == tensor.Float32 && r >= af.rank && (l == 1 || r > 0 && x.shape[r-1] == l)
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			if fast(in[0]) {
				return one(in[0].dtype, in[0].shape), nil
			}
			m, err := binaryShape(opMul, in[0], infoOf(st))
			if err != nil {
				return nil, err
			}
			return binaryShape(opAdd, m[0], infoOf(bt))
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			x := in[0]
			if !fast(infoOf(x)) {
				m, err := binaryShape(opMul, infoOf(x), infoOf(st))
				if err != nil {
					return nil, err
				}
				xs, err := binary(opMul, x, st, m[0])
				if err != nil {
					return nil, err
				}
				y, err := binary(opAdd, xs, bt, out[0])
				if err != nil {
					return nil, err
				}
				return []*tensor.Tensor{y}, nil
			}
			y := allocRaw(out[0]) // every tile is written
			parallel.For((len(x.F32)+tile-1)/tile, parallel.Grain(tile), func(lo, hi int) {
				for t := lo; t < hi; t++ {
					a, b := t*tile, min((t+1)*tile, len(x.F32))
					addMulF32(opMul, y.F32[a:b], x.F32[a:b], rs[:b-a], 1, 1)
					addMulF32(opAdd, y.F32[a:b], y.F32[a:b], rb[:b-a], 1, 1)
				}
			})
			return []*tensor.Tensor{y}, nil
		},
	}
}
