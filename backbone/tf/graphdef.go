package tf

import (
	"fmt"
	"strconv"
	"strings"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	gpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	tpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	vpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/versions_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// The pure-Go half of the engine: the GraphDef TensorFlow imports and the
// bytes of the tensors it exchanges. None of it needs libtensorflow, so the
// untagged tests check it.

// graphDef serialises a flat graph as a GraphDef with the versions of the
// meta graph it came from. Every node is kept as flattened, except that
// a Const without a value attr gets its value from g.Consts, devices are
// cleared (the engine places the graph) and internal attrs ("_class"
// colocations with nodes the flattening removed, "_output_shapes") are
// dropped.
func graphDef(g *savedmodel.Graph, versions *vpb.VersionDef) ([]byte, error) {
	def := &gpb.GraphDef{Versions: versions, Node: make([]*ndpb.NodeDef, 0, len(g.Nodes))}
	for _, n := range g.Nodes {
		out := &ndpb.NodeDef{Name: n.Name, Op: n.Op, Input: n.Input, Attr: make(map[string]*avpb.AttrValue, len(n.Attr))}
		for k, v := range n.Attr {
			if !strings.HasPrefix(k, "_") {
				out.Attr[k] = v
			}
		}
		if n.Op == "Const" && out.Attr["value"].GetTensor() == nil {
			val, ok := g.Consts[n.Name]
			if !ok {
				return nil, fmt.Errorf("tf: Const %q has neither a value attr nor a value in the flat graph", n.Name)
			}
			tp, err := savedmodel.TensorToProto(val)
			if err != nil {
				return nil, fmt.Errorf("tf: Const %q: %w", n.Name, err)
			}
			out.Attr["value"] = &avpb.AttrValue{Value: &avpb.AttrValue_Tensor{Tensor: tp}}
			out.Attr["dtype"] = &avpb.AttrValue{Value: &avpb.AttrValue_Type{Type: typb.DataType(val.DType)}}
		}
		def.Node = append(def.Node, out)
	}
	b, err := proto.Marshal(def)
	if err != nil {
		return nil, fmt.Errorf("tf: serialise the flat graph: %w", err)
	}
	return b, nil
}

// splitTensorName splits "node:i" (or "node", output 0).
func splitTensorName(name string) (string, int, error) {
	node, idx, ok := strings.Cut(name, ":")
	if !ok {
		return name, 0, nil
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || node == "" {
		return "", 0, fmt.Errorf("tf: %q is not a tensor name (node:index)", name)
	}
	return node, i, nil
}

// storageClass groups dtypes that share a tensor.Tensor backing slice: a
// batch may be relabelled within its class (float32 values fed to a
// float16 input), never converted across classes.
func storageClass(d tensor.DType) int {
	switch d {
	case tensor.Float32, tensor.Float16:
		return -1
	case tensor.Int32, tensor.Int16, tensor.Int8, tensor.Uint8:
		return -2
	}
	return int(d)
}

// feedBytes checks a batch against the backbone's input and returns its
// contents as TensorFlow lays out a tensor of the input's dtype
// (row-major, little-endian), with the shape to create it with.
func feedBytes(batch *tensor.Tensor, in backbone.TensorSpec) ([]byte, []int64, error) {
	if batch == nil {
		return nil, nil, fmt.Errorf("tf: nil batch")
	}
	if storageClass(batch.DType) != storageClass(in.DType) || batch.DType == tensor.String {
		return nil, nil, fmt.Errorf("tf: batch of %s for input %q of %s", batch.DType, in.Name, in.DType)
	}
	if len(batch.Shape) != len(in.Shape) {
		return nil, nil, fmt.Errorf("tf: batch of shape %v for input %q of shape %v", batch.Shape, in.Name, in.Shape)
	}
	shape := make([]int64, len(batch.Shape))
	for i, d := range batch.Shape {
		if d < 0 || (in.Shape[i] >= 0 && d != in.Shape[i]) {
			return nil, nil, fmt.Errorf("tf: batch of shape %v for input %q of shape %v (-1: any)", batch.Shape, in.Name, in.Shape)
		}
		shape[i] = int64(d)
	}
	t := *batch
	t.DType = in.DType
	if t.Len() != storageLen(&t) {
		return nil, nil, fmt.Errorf("tf: batch of shape %v holds %d values", batch.Shape, storageLen(&t))
	}
	p, err := savedmodel.TensorToProto(&t)
	if err != nil {
		return nil, nil, err
	}
	return p.TensorContent, shape, nil
}

// storageLen is the length of a tensor's backing slice.
func storageLen(t *tensor.Tensor) int {
	switch storageClass(t.DType) {
	case -1:
		return len(t.F32)
	case -2:
		return len(t.I32)
	}
	switch t.DType {
	case tensor.Float64:
		return len(t.F64)
	case tensor.Int64:
		return len(t.I64)
	case tensor.Bool:
		return len(t.B)
	}
	return len(t.S)
}

// fetchTensor decodes a fetched tensor's contents (TensorFlow's layout).
func fetchTensor(dt tensor.DType, shape []int64, raw []byte) (*tensor.Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	if dt.Size() == 0 || int64(len(raw)) != n*int64(dt.Size()) {
		return nil, fmt.Errorf("tf: fetched tensor %s%v has %d bytes", dt, shape, len(raw))
	}
	s := &shpb.TensorShapeProto{}
	for _, d := range shape {
		s.Dim = append(s.Dim, &shpb.TensorShapeProto_Dim{Size: d})
	}
	t, err := savedmodel.TensorFromProto(&tpb.TensorProto{Dtype: typb.DataType(dt), TensorShape: s, TensorContent: raw})
	if err != nil {
		return nil, fmt.Errorf("tf: fetched tensor %s%v: %w", dt, shape, err)
	}
	return t, nil
}
