package savedmodel

import (
	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	shpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// Small constructors for AttrValues, used by the writer and by callers that
// build function bodies for WriteSpec.

// AttrType is a type attr.
func AttrType(dt tensor.DType) *avpb.AttrValue {
	return &avpb.AttrValue{Value: &avpb.AttrValue_Type{Type: typb.DataType(dt)}}
}

// AttrTypes is a list(type) attr.
func AttrTypes(dts ...tensor.DType) *avpb.AttrValue {
	l := &avpb.AttrValue_ListValue{}
	for _, d := range dts {
		l.Type = append(l.Type, typb.DataType(d))
	}
	return &avpb.AttrValue{Value: &avpb.AttrValue_List{List: l}}
}

// AttrInt is an int attr.
func AttrInt(i int64) *avpb.AttrValue { return &avpb.AttrValue{Value: &avpb.AttrValue_I{I: i}} }

// AttrInts is a list(int) attr.
func AttrInts(is ...int64) *avpb.AttrValue {
	return &avpb.AttrValue{Value: &avpb.AttrValue_List{List: &avpb.AttrValue_ListValue{I: is}}}
}

// AttrString is a string attr.
func AttrString(s string) *avpb.AttrValue {
	return &avpb.AttrValue{Value: &avpb.AttrValue_S{S: []byte(s)}}
}

// AttrBool is a bool attr.
func AttrBool(b bool) *avpb.AttrValue { return &avpb.AttrValue{Value: &avpb.AttrValue_B{B: b}} }

// AttrShape is a shape attr; -1 marks unknown dims, nil an unknown rank.
func AttrShape(dims []int64) *avpb.AttrValue {
	return &avpb.AttrValue{Value: &avpb.AttrValue_Shape{Shape: shapeProto64(dims)}}
}

// AttrShapes is a list(shape) attr (as in _output_shapes).
func AttrShapes(shapes ...[]int64) *avpb.AttrValue {
	l := &avpb.AttrValue_ListValue{}
	for _, s := range shapes {
		l.Shape = append(l.Shape, shapeProto64(s))
	}
	return &avpb.AttrValue{Value: &avpb.AttrValue_List{List: l}}
}

// AttrFunc is a func attr naming a library function.
func AttrFunc(name string) *avpb.AttrValue {
	return &avpb.AttrValue{Value: &avpb.AttrValue_Func{Func: &avpb.NameAttrList{Name: name}}}
}

// AttrTensor is a tensor attr (a Const's value).
func AttrTensor(t *tensor.Tensor) (*avpb.AttrValue, error) {
	p, err := TensorToProto(t)
	if err != nil {
		return nil, err
	}
	return &avpb.AttrValue{Value: &avpb.AttrValue_Tensor{Tensor: p}}, nil
}

func shapeProto64(dims []int64) *shpb.TensorShapeProto {
	if dims == nil {
		return &shpb.TensorShapeProto{UnknownRank: true}
	}
	s := &shpb.TensorShapeProto{}
	for _, d := range dims {
		s.Dim = append(s.Dim, &shpb.TensorShapeProto_Dim{Size: d})
	}
	return s
}
