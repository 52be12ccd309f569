package native

import (
	"fmt"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// attrs reads a NodeDef's attributes with TensorFlow's defaults.
type attrs struct{ n *framework.NodeDef }

func (a attrs) str(name, def string) string {
	if v, ok := a.n.GetAttr()[name]; ok {
		return string(v.GetS())
	}
	return def
}

func (a attrs) int(name string, def int64) int64 {
	if v, ok := a.n.GetAttr()[name]; ok {
		return v.GetI()
	}
	return def
}

func (a attrs) float(name string, def float32) float32 {
	if v, ok := a.n.GetAttr()[name]; ok {
		return v.GetF()
	}
	return def
}

func (a attrs) bool(name string, def bool) bool {
	if v, ok := a.n.GetAttr()[name]; ok {
		return v.GetB()
	}
	return def
}

func (a attrs) ints(name string, def []int64) []int64 {
	if v, ok := a.n.GetAttr()[name]; ok && v.GetList() != nil {
		return v.GetList().GetI()
	}
	return def
}

func (a attrs) dtype(name string, def tensor.DType) tensor.DType {
	if v, ok := a.n.GetAttr()[name]; ok {
		return tensor.DType(v.GetType())
	}
	return def
}

// shape returns a shape attribute with -1 for unknown dims; ok is false
// when the attribute is absent or of unknown rank.
func (a attrs) shape(name string) (dims []int, ok bool) {
	v, found := a.n.GetAttr()[name]
	if !found || v.GetShape() == nil || v.GetShape().GetUnknownRank() {
		return nil, false
	}
	for _, d := range v.GetShape().GetDim() {
		dims = append(dims, int(d.GetSize()))
	}
	return dims, true
}

// nhwc rejects any data_format but NHWC: the engine computes channels-last.
func (a attrs) nhwc() error {
	if f := a.str("data_format", "NHWC"); f != "NHWC" {
		return fmt.Errorf("%w: data_format %q (only NHWC is supported; re-export the model channels-last)", ErrAttr, f)
	}
	return nil
}

// spatial reads a 4-element NHWC list attribute (strides, dilations, ksize)
// and returns its H and W entries; batch and channel entries must be 1.
func (a attrs) spatial(name string, required bool) (h, w int, err error) {
	v := a.ints(name, nil)
	if v == nil {
		if required {
			return 0, 0, fmt.Errorf("%w: missing %s", ErrAttr, name)
		}
		return 1, 1, nil
	}
	if len(v) != 4 || v[0] != 1 || v[3] != 1 || v[1] < 1 || v[2] < 1 {
		return 0, 0, fmt.Errorf("%w: %s %v (want [1, h, w, 1] with h, w >= 1)", ErrAttr, name, v)
	}
	return int(v[1]), int(v[2]), nil
}
