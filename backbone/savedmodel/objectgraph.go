package savedmodel

import (
	"encoding/json"
	"strconv"

	pb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

func itoa(i int) string { return strconv.Itoa(i) }

// objectGraphs holds the two views of the Keras object graph: the
// SavedObjectGraph in saved_model.pb and the TrackableObjectGraph stored in
// the checkpoint under _CHECKPOINTABLE_OBJECT_GRAPH. TensorFlow matches
// them by walking children from the root, so both share node ids.
type objectGraphs struct {
	saved      *pb.SavedObjectGraph
	checkpoint *pb.TrackableObjectGraph
}

type ref = pb.TrackableObjectGraph_TrackableObject_ObjectReference

func kerasMetadata(m map[string]any) string {
	b, _ := json.Marshal(m) // plain maps of strings and bools cannot fail
	return string(b)
}

// userObject is a Keras object node. TensorFlow 2.15 still fills the
// deprecated metadata field for Keras layers, so the writer does too.
func userObject(identifier, metadata string) *pb.SavedObject {
	return &pb.SavedObject{Kind: &pb.SavedObject_UserObject{UserObject: &pb.SavedUserObject{
		Identifier: identifier, Version: versionDef(1, 1), Metadata: metadata,
	}}}
}

func (w *modelWriter) objectGraphs() (*objectGraphs, error) {
	s := w.s
	saved := &pb.SavedObjectGraph{ConcreteFunctions: map[string]*pb.SavedConcreteFunction{}}
	ckpt := &pb.TrackableObjectGraph{}
	add := func(o *pb.SavedObject) int32 {
		saved.Nodes = append(saved.Nodes, o)
		ckpt.Nodes = append(ckpt.Nodes, &pb.TrackableObjectGraph_TrackableObject{})
		return int32(len(saved.Nodes) - 1)
	}
	child := func(parent, id int32, name string) {
		r := &ref{NodeId: id, LocalName: name}
		saved.Nodes[parent].Children = append(saved.Nodes[parent].Children, r)
		ckpt.Nodes[parent].Children = append(ckpt.Nodes[parent].Children, &ref{NodeId: id, LocalName: name})
	}

	root := add(userObject("_tf_keras_sequential", kerasMetadata(map[string]any{
		"name": s.ModelName, "class_name": "Sequential", "trainable": true, "dtype": "float32",
	})))
	layerIDs := map[string]int32{}
	for _, l := range w.layers {
		layerIDs[l] = add(userObject("_tf_keras_layer", kerasMetadata(map[string]any{
			"name": l, "trainable": true, "dtype": "float32",
		})))
	}
	var varIDs []int32
	for i, v := range s.Variables {
		id := add(&pb.SavedObject{Kind: &pb.SavedObject_Variable{Variable: &pb.SavedVariable{
			Dtype: dtypeProto(v.Value.DType), Shape: shapeProto(v.Value.Shape), Trainable: true, Name: v.FullName(),
		}}})
		ckpt.Nodes[id].Attributes = []*pb.TrackableObjectGraph_TrackableObject_SerializedTensor{{
			Name: "VARIABLE_VALUE", FullName: v.FullName(), CheckpointKey: w.keys[i],
		}}
		child(layerIDs[v.Layer], id, v.Name)
		varIDs = append(varIDs, id)
	}
	// Keras tracks layers with weights first; checkpoint keys take the
	// first shortest path, hence "layer_with_weights-N/...".
	for _, l := range w.layers {
		if k, ok := w.withW[l]; ok {
			child(root, layerIDs[l], "layer_with_weights-"+itoa(k))
		}
	}
	for i, l := range w.layers {
		child(root, layerIDs[l], "layer-"+itoa(i))
	}
	sigs := add(userObject("signature_map", ""))
	child(root, sigs, "signatures")
	spec := func(name string, dt tensor.DType, shape []int64) *pb.StructuredValue {
		return &pb.StructuredValue{Kind: &pb.StructuredValue_TensorSpecValue{TensorSpecValue: &pb.TensorSpecProto{
			Name: name, Shape: shapeProto64(shape), Dtype: dtypeProto(dt),
		}}}
	}
	for i, sg := range w.sigs {
		fn := add(&pb.SavedObject{Kind: &pb.SavedObject_BareConcreteFunction{BareConcreteFunction: &pb.SavedBareConcreteFunction{
			ConcreteFunctionName: fnSigWrapperN(i),
			ArgumentKeywords:     []string{sg.InputName},
			FunctionSpec:         &pb.FunctionSpec{Fullargspec: fullArgSpec(), InputSignature: &pb.StructuredValue{Kind: &pb.StructuredValue_NoneValue{NoneValue: &pb.NoneValue{}}}},
		}}})
		child(sigs, fn, sg.Key)
		outs := map[string]*pb.StructuredValue{}
		for _, o := range sg.Outputs {
			outs[o.Name] = spec(o.Name, o.DType, o.Shape)
		}
		saved.ConcreteFunctions[fnSigWrapperN(i)] = &pb.SavedConcreteFunction{
			BoundInputs: varIDs,
			CanonicalizedInputSignature: tuple(
				tuple(),
				dict(map[string]*pb.StructuredValue{sg.InputName: spec(sg.InputName, sg.InputDType, sg.InputShape)}),
			),
			OutputSignature: dict(outs),
		}
	}
	return &objectGraphs{saved: saved, checkpoint: ckpt}, nil
}

func tuple(v ...*pb.StructuredValue) *pb.StructuredValue {
	return &pb.StructuredValue{Kind: &pb.StructuredValue_TupleValue{TupleValue: &pb.TupleValue{Values: v}}}
}

func dict(m map[string]*pb.StructuredValue) *pb.StructuredValue {
	return &pb.StructuredValue{Kind: &pb.StructuredValue_DictValue{DictValue: &pb.DictValue{Fields: m}}}
}

func none() *pb.StructuredValue {
	return &pb.StructuredValue{Kind: &pb.StructuredValue_NoneValue{NoneValue: &pb.NoneValue{}}}
}

func list(v ...*pb.StructuredValue) *pb.StructuredValue {
	return &pb.StructuredValue{Kind: &pb.StructuredValue_ListValue{ListValue: &pb.ListValue{Values: v}}}
}

// fullArgSpec is the inspect.FullArgSpec of a signature wrapper (**kwargs).
func fullArgSpec() *pb.StructuredValue {
	pair := func(k string, v *pb.StructuredValue) *pb.PairValue { return &pb.PairValue{Key: k, Value: v} }
	return &pb.StructuredValue{Kind: &pb.StructuredValue_NamedTupleValue{NamedTupleValue: &pb.NamedTupleValue{
		Name: "FullArgSpec",
		Values: []*pb.PairValue{
			pair("args", list()),
			pair("varargs", none()),
			pair("varkw", &pb.StructuredValue{Kind: &pb.StructuredValue_StringValue{StringValue: "kwargs"}}),
			pair("defaults", none()),
			pair("kwonlyargs", list()),
			pair("kwonlydefaults", none()),
			pair("annotations", dict(map[string]*pb.StructuredValue{})),
		},
	}}}
}
