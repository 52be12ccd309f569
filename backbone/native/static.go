package native

import (
	"fmt"
	"reflect"
	"strconv"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// StaticNode is one node of a graph as a converter to another format
// (the ONNX and TFLite exports) needs it: its resolved inputs and what
// static inference knows of each of its outputs.
type StaticNode struct {
	Def *framework.NodeDef
	// Inputs are the data inputs as "node:i".
	Inputs  []string
	Outputs []StaticTensor
}

// StaticTensor is what static inference knows of one tensor.
type StaticTensor struct {
	DType tensor.DType
	// Shape has -1 for the dims that depend on the unknown input dims.
	Shape []int
	// Value is set when the tensor's value does not depend on the inputs
	// (constants and what folds from them, and shape arithmetic on known
	// dims): a converter writes it as a constant.
	Value *tensor.Tensor
	// Varies marks a value that is known once the unknown input dims are
	// (shape arithmetic on the batch): AtProbe is it with them set to
	// Probe, Alt with them set to twice Probe.
	Varies       bool
	AtProbe, Alt *tensor.Tensor
}

// Probe is the size static inference gives unknown input dims (and then
// twice it): highly composite, so reshapes that divide the batch work.
const Probe = probeA

// Static compiles g (pruned to its outputs; unsupported ops are one
// error, as New reports them) and infers every node's outputs with the
// unknown input dims set to Probe and then to twice it: a dim or a value
// that comes out the same both times does not depend on them. Constant
// values are folded whatever their size, so weights computed from weights
// (a frozen graph's folded batch norm) come out as values too.
func Static(g *savedmodel.Graph, inputShapes map[string][]int) ([]StaticNode, error) {
	e, err := build(g, true)
	if err != nil {
		return nil, err
	}
	for name := range inputShapes {
		if _, ok := e.feeds[name]; !ok {
			return nil, fmt.Errorf("%w: %q is not an input of this graph", ErrFeed, name)
		}
	}
	const noLimit = int(^uint(0) >> 1)
	a, err := e.infer(inputShapes, probeA, noLimit)
	if err != nil {
		return nil, err
	}
	b, err := e.infer(inputShapes, probeB, noLimit)
	if err != nil {
		return nil, err
	}
	out := make([]StaticNode, len(e.nodes))
	for i, n := range e.nodes {
		sn := StaticNode{Def: n.def}
		for _, r := range n.inputs {
			sn.Inputs = append(sn.Inputs, e.nodes[r.node].name()+":"+strconv.Itoa(r.out))
		}
		for j := range a[i] {
			ta, tb := a[i][j], b[i][j]
			if len(ta.shape) != len(tb.shape) {
				return nil, fmt.Errorf("%w: node %q (%s): the rank of output %d depends on unknown input dims", ErrShape, n.name(), n.op(), j)
			}
			st := StaticTensor{DType: ta.dtype, Shape: append([]int(nil), ta.shape...)}
			for k := range st.Shape {
				if ta.shape[k] != tb.shape[k] {
					st.Shape[k] = -1
				}
			}
			switch {
			case ta.value != nil && tb.value != nil && sameValue(ta.value, tb.value):
				st.Value = ta.value
			case ta.value != nil && tb.value != nil:
				st.Varies, st.AtProbe, st.Alt = true, ta.value, tb.value
			}
			sn.Outputs = append(sn.Outputs, st)
		}
		out[i] = sn
	}
	return out, nil
}

// StaticValues is Static keyed by tensor ("node:i"), for converters that
// look tensors up by name; a value that varies with the batch is given
// as its Probe value (Value) beside Alt.
func StaticValues(g *savedmodel.Graph, inputShapes map[string][]int) (map[string]StaticTensor, error) {
	nodes, err := Static(g, inputShapes)
	if err != nil {
		return nil, err
	}
	res := make(map[string]StaticTensor)
	for _, n := range nodes {
		for j, st := range n.Outputs {
			if st.Varies {
				st.Value = st.AtProbe
			}
			res[n.Def.GetName()+":"+strconv.Itoa(j)] = st
		}
	}
	return res, nil
}

func sameValue(a, b *tensor.Tensor) bool {
	return a.DType == b.DType && reflect.DeepEqual(a.Shape, b.Shape) && reflect.DeepEqual(a.F32, b.F32) &&
		reflect.DeepEqual(a.F64, b.F64) && reflect.DeepEqual(a.I32, b.I32) && reflect.DeepEqual(a.I64, b.I64) &&
		reflect.DeepEqual(a.B, b.B) && reflect.DeepEqual(a.S, b.S)
}
