package savedmodel

import (
	"fmt"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// constValue decodes a Const node's value attr.
func constValue(name string, attr map[string]*avpb.AttrValue) (*tensor.Tensor, error) {
	v, ok := attr["value"]
	if !ok || v.GetTensor() == nil {
		return nil, fmt.Errorf("%w: Const %q has no value", ErrGraph, name)
	}
	t, err := TensorFromProto(v.GetTensor())
	if err != nil {
		return nil, fmt.Errorf("const node %q: %w", name, err)
	}
	return t, nil
}
