package native

import (
	"fmt"
	"slices"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// aliasOps return (a view of) their input's storage: their outputs hold
// no memory of their own (array.go registers them with aliasRun or as
// pass-throughs).
var aliasOps = map[string]bool{"Identity": true, "StopGradient": true, "Snapshot": true, "PreventGradient": true,
	"IdentityN": true, "Reshape": true, "Squeeze": true, "ExpandDims": true}

// heapOps allocate their (reduced, small) outputs on the heap, not from
// the arena (reduce.go).
var heapOps = map[string]bool{"Sum": true, "Mean": true, "Max": true, "Min": true, "Prod": true}

// WorkingSet is the bytes the engine's arena (arena.go) holds after one
// run of g on a batch of n images of input shape in (NHWC, the batch dim
// ignored): the executor replayed on the static shapes, each op's output
// taken before its inputs' last use frees them, views sharing their
// input's buffer, constants and the fed batch (the caller's) not counted,
// and the arena's own reuse rule (fit: the same capacity, else one up to
// twice as large, else a new buffer) deciding what is allocated. That is
// the backbone's memory per batch, which sizes extraction batches before
// any image is decoded; it is several times the tensors live at any one
// moment, since a freed buffer serves only requests of about its size.
// The spatial dims of in must be known.
func WorkingSet(g *savedmodel.Graph, in []int, n int) (int64, error) {
	if err := fixedInput(in, n); err != nil {
		return 0, err
	}
	e, err := New(g)
	if err != nil {
		return 0, err
	}
	return e.workingSet(g.Inputs[0], in, n)
}

// WorkingSet is the package's WorkingSet for the backbone's own engine.
func (b *Backbone) WorkingSet(n int) (int64, error) {
	if err := fixedInput(b.input.Shape, n); err != nil {
		return 0, err
	}
	return b.engine.workingSet(b.graph.Inputs[0], b.input.Shape, n)
}

func fixedInput(in []int, n int) error {
	if len(in) != 4 || slices.Min(in[1:]) < 1 || n < 1 {
		return fmt.Errorf("%w: working set of input %v at batch %d: need a fixed NHWC input", ErrShape, in, n)
	}
	return nil
}

func (e *Engine) workingSet(input string, in []int, n int) (int64, error) {
	shape := slices.Clone(in)
	shape[0] = n
	shapes, err := e.inferWith(map[string][]int{input: shape}, n, foldLimit)
	if err != nil {
		return 0, err
	}
	// buffer is one allocation and the live values that point into it.
	type buffer struct {
		size int // floats
		refs int
	}
	free := map[int][]struct{}{}
	var total int64
	take := func(size int) *buffer {
		if c := fit(free, size); c > 0 {
			free[c] = free[c][1:]
			return &buffer{size: c, refs: 1}
		}
		total += 4 * int64(size)
		return &buffer{size: size, refs: 1}
	}
	bufs := make([][]*buffer, len(e.nodes))
	left := make([][]int, len(e.nodes))
	for i, nd := range e.nodes {
		left[i] = slices.Clone(nd.uses)
		bufs[i] = make([]*buffer, max(nd.k.nOut, 1))
		switch {
		case nd.konst != nil || nd.isFeed() || heapOps[nd.op()]:
		case aliasOps[nd.op()] || nd.inPlace:
			for j := range bufs[i] {
				if j < len(nd.inputs) {
					r := nd.inputs[j]
					if b := bufs[r.node][r.out]; b != nil {
						b.refs++
						bufs[i][j] = b
					}
				}
			}
		default:
			for j := range bufs[i] {
				if s, ok := shapes[fmt.Sprintf("%s:%d", nd.name(), j)]; ok {
					bufs[i][j] = take(tensor.NumElements(s))
				}
			}
		}
		for _, r := range nd.inputs {
			if left[r.node][r.out]--; left[r.node][r.out] == 0 {
				if b := bufs[r.node][r.out]; b != nil {
					if b.refs--; b.refs == 0 {
						free[b.size] = append(free[b.size], struct{}{})
					}
				}
			}
		}
	}
	return total, nil
}
