package native

import (
	"fmt"
	"strconv"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// Static shape inference runs every node's shape function over concrete
// shapes. Unknown input dims (-1) are replaced by a probe size, and the
// graph is inferred twice with two different probes: a dim that comes out
// different is unknown (-1), one that comes out equal does not depend on
// the unknown inputs. This gives shape arithmetic (Shape -> StridedSlice ->
// Pack -> Reshape, as Keras writes Flatten) exact results with the same
// kernels that execute it, instead of a second symbolic implementation.
const (
	probeA = 5040 // highly composite, so reshapes that divide the batch still work
	probeB = 2 * probeA
	// foldLimit bounds the tensors static inference computes values for
	// (constants and shape arithmetic).
	foldLimit = 1 << 12
)

// InferShapes returns the static shape of every tensor of g, keyed
// "node:i", with -1 for dims that depend on unknown input dims. inputShapes
// gives the placeholders' shapes (-1: unknown); a placeholder absent from it
// uses its declared shape. An incompatible shape is an error naming the node.
func InferShapes(g *savedmodel.Graph, inputShapes map[string][]int) (map[string][]int, error) {
	e, err := build(g, false)
	if err != nil {
		return nil, err
	}
	shapes := map[string][]int{}
	for _, n := range e.nodes {
		if !n.isFeed() {
			continue
		}
		s, given := inputShapes[n.name()]
		if !given {
			if n.op() == "PlaceholderWithDefault" {
				continue
			}
			var ok bool
			if s, ok = (attrs{n.def}).shape("shape"); !ok {
				return nil, fmt.Errorf("%w: input %q has no declared shape; pass its shape", ErrShape, n.name())
			}
		}
		shapes[n.name()] = s
	}
	for name := range inputShapes {
		if _, ok := e.feeds[name]; !ok {
			return nil, fmt.Errorf("%w: %q is not an input of this graph", ErrFeed, name)
		}
	}
	unknown := false
	for _, s := range shapes {
		for _, d := range s {
			unknown = unknown || d < 0
		}
	}
	a, err := e.inferWith(shapes, probeA, foldLimit)
	if err != nil || !unknown {
		return a, err
	}
	b, err := e.inferWith(shapes, probeB, foldLimit)
	if err != nil {
		return nil, err
	}
	for k, sa := range a {
		sb := b[k]
		if len(sa) != len(sb) {
			return nil, fmt.Errorf("%w: the rank of %s depends on unknown input dims", ErrShape, k)
		}
		for i := range sa {
			if sa[i] != sb[i] {
				sa[i] = -1
			}
		}
	}
	return a, nil
}

// inferWith runs the shape functions with unknown input dims set to probe,
// folding values of up to limit elements (constants, shape arithmetic)
// along the way.
func (e *Engine) inferWith(inputs map[string][]int, probe, limit int) (map[string][]int, error) {
	infos, err := e.infer(inputs, probe, limit)
	if err != nil {
		return nil, err
	}
	res := make(map[string][]int)
	for i, n := range e.nodes {
		for j, o := range infos[i] {
			res[n.name()+":"+strconv.Itoa(j)] = append([]int(nil), o.shape...)
		}
	}
	return res, nil
}

// infer is inferWith's pass, returning every node's output infos.
func (e *Engine) infer(inputs map[string][]int, probe, limit int) ([][]tinfo, error) {
	infos := make([][]tinfo, len(e.nodes))
	for i, n := range e.nodes {
		in := make([]tinfo, len(n.inputs))
		for j, r := range n.inputs {
			in[j] = infos[r.node][r.out]
		}
		var out []tinfo
		if s, fed := inputs[n.name()]; fed {
			concrete := make([]int, len(s))
			for j, d := range s {
				concrete[j] = d
				if d < 0 {
					concrete[j] = probe
				}
			}
			dt := (attrs{n.def}).dtype("dtype", tensor.Float32)
			out = []tinfo{{dtype: dt, shape: concrete}}
			if len(in) > 0 { // PlaceholderWithDefault: its default's dtype
				out[0].dtype = in[0].dtype
			}
		} else {
			var err error
			if out, err = n.k.shape(in); err != nil {
				return nil, fmt.Errorf("node %q (%s): %w", n.name(), n.op(), err)
			}
			if err := fold(n, in, out, limit); err != nil {
				return nil, err
			}
		}
		infos[i] = out
	}
	return infos, nil
}

// fold computes the values of a node's small outputs when every input
// value is known (or the kernel reads only shapes), so that later shape
// functions can read them.
func fold(n *node, in, out []tinfo, limit int) error {
	if n.op() == "NoOp" || n.isFeed() {
		return nil // a PlaceholderWithDefault's value is the caller's to choose
	}
	for _, o := range out {
		if o.value != nil {
			return nil // the shape function already knows it (Const, Shape)
		}
		if tensor.NumElements(o.shape) > limit {
			return nil
		}
	}
	args := make([]*tensor.Tensor, len(in))
	for j, t := range in {
		switch {
		case t.value != nil:
			args[j] = t.value
		case n.k.shapeOnly:
			args[j] = &tensor.Tensor{DType: t.dtype, Shape: t.shape}
		default:
			return nil
		}
	}
	vals, err := runNode(n, args, nil)
	if err != nil {
		return err
	}
	for j := range out {
		out[j].value = vals[j]
	}
	return nil
}
