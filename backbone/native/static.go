package native

import (
	"strconv"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// Static is what static inference knows of one tensor before any image is
// fed: converters (the ONNX export) read it to fold weights and shape
// arithmetic into constants.
type Static struct {
	DType tensor.DType
	// Shape has -1 for dims that depend on the unknown input dims.
	Shape []int
	// Value is the tensor's value when it does not depend on the images
	// (constants, arithmetic on weights, shape arithmetic); nil otherwise.
	Value *tensor.Tensor
	// Varies marks a Value that depends on the unknown input dims (the
	// batch): Value is computed with them set to Probe, Alt with 2 x Probe.
	Varies bool
	Alt    *tensor.Tensor
}

// Probe is the size StaticValues gives unknown input dims (Alt: twice it).
const Probe = probeA

// StaticValues infers every tensor of g (keyed "node:i") as InferShapes
// does, and also folds the values of every tensor that does not depend on
// the fed images, whatever its size (weights included).
func StaticValues(g *savedmodel.Graph, inputShapes map[string][]int) (map[string]Static, error) {
	e, err := build(g, false)
	if err != nil {
		return nil, err
	}
	const all = 1 << 62
	a, err := e.infer(inputShapes, probeA, all)
	if err != nil {
		return nil, err
	}
	b, err := e.infer(inputShapes, probeB, all)
	if err != nil {
		return nil, err
	}
	res := make(map[string]Static)
	for i, n := range e.nodes {
		for j, oa := range a[i] {
			ob := b[i][j]
			s := Static{DType: oa.dtype, Shape: append([]int(nil), oa.shape...), Value: oa.value}
			for k := range s.Shape {
				if k < len(ob.shape) && ob.shape[k] != oa.shape[k] {
					s.Shape[k] = -1
				}
			}
			if oa.value != nil && (ob.value == nil || !equalValues(oa.value, ob.value)) {
				s.Varies, s.Alt = true, ob.value
				if ob.value == nil {
					s.Value = nil
				}
			}
			res[n.name()+":"+strconv.Itoa(j)] = s
		}
	}
	return res, nil
}

func equalValues(a, b *tensor.Tensor) bool {
	if a.DType != b.DType || !sameShape(a.Shape, b.Shape) {
		return false
	}
	n := tensor.NumElements(a.Shape)
	for i := 0; i < n; i++ {
		if asFloat64(a, i) != asFloat64(b, i) {
			return false
		}
	}
	return true
}
