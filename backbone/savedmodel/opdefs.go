package savedmodel

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	fpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/function_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	opb "github.com/galeone/tensorflow/tensorflow/go/core/framework/op_def_go_proto"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// registryOps are the ops whose OpDefs graft carries: what Keras CNN
// backbones use, what the SavedModel saver/restorer use, and the common ops
// with several output args (whose function-internal "node:arg:idx" names
// need the layout).
var registryOps = []string{
	"Abs", "Add", "AddN", "AddV2", "ArgMax", "Assign", "AssignVariableOp", "AvgPool",
	"BatchMatMulV2", "BiasAdd", "BroadcastTo", "Cast", "ClipByValue", "ConcatV2", "Const",
	"Conv2D", "Conv2DBackpropInput", "Cumsum", "DecodeImage", "DepthwiseConv2dNative", "Div", "DivNoNan",
	"Einsum", "Elu", "Equal", "Erf", "Exp", "ExpandDims", "Fill", "Floor", "FloorDiv",
	"FloorMod", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "GatherV2",
	"Greater", "Identity", "IdentityN", "LeakyRelu", "Less", "Log", "LogSoftmax",
	"LogicalAnd", "MatMul", "Max", "MaxPool", "Maximum", "Mean", "Merge", "MergeV2Checkpoints",
	"Min", "Minimum", "MirrorPad", "Mul", "Neg", "NoOp", "OnesLike", "Pack", "Pad", "PadV2",
	"PartitionedCall", "Placeholder", "PlaceholderWithDefault", "Pow", "Prod", "Range", "Rank",
	"ReadVariableOp", "RealDiv", "Reciprocal", "Relu", "Relu6", "Reshape", "ResizeBilinear",
	"ResizeNearestNeighbor", "ResourceGather", "RestoreV2", "Round", "Rsqrt", "SaveV2", "ScaleAndTranslate",
	"Select", "SelectV2", "Selu", "Shape", "ShapeN", "ShardedFilename", "Sigmoid", "Sign",
	"Size", "Slice", "Softmax", "Softplus", "Softsign", "Split", "SplitV", "Sqrt", "Square",
	"SquaredDifference", "Squeeze", "StatefulPartitionedCall", "StaticRegexFullMatch",
	"StopGradient", "StridedSlice", "StringJoin", "Sub", "Sum", "Switch", "Tanh", "Tile",
	"TopKV2", "Transpose", "Unique", "Unpack", "VarHandleOp", "Variable", "VariableV2", "While",
	"ZerosLike",
}

//go:embed opdefs.pbtxt
var opdefsText []byte

// builtinOps is the embedded registry, parsed once.
var builtinOps = func() map[string]*opb.OpDef {
	var l opb.OpList
	if err := prototext.Unmarshal(opdefsText, &l); err != nil {
		panic("savedmodel: embedded opdefs.pbtxt: " + err.Error()) // build-time data
	}
	m := make(map[string]*opb.OpDef, len(l.Op))
	for _, op := range l.Op {
		m[op.Name] = op
	}
	return m
}()

// opRegistry resolves op names to OpDefs: the model's own stripped_op_list
// first (it describes exactly the ops the model was written with), then
// the built-in subset.
type opRegistry map[string]*opb.OpDef

func newOpRegistry(stripped *opb.OpList) opRegistry {
	r := opRegistry{}
	for k, v := range builtinOps {
		r[k] = v
	}
	for _, op := range stripped.GetOp() {
		r[op.Name] = op
	}
	return r
}

// argCount is how many tensors an OpDef arg expands to for node attrs.
func argCount(a *opb.OpDef_ArgDef, attrs map[string]*avpb.AttrValue) (int, error) {
	switch {
	case a.NumberAttr != "":
		v, ok := attrs[a.NumberAttr]
		if !ok {
			return 0, fmt.Errorf("missing attr %q", a.NumberAttr)
		}
		if v.GetI() < 0 || v.GetI() > 1<<20 {
			return 0, fmt.Errorf("attr %q = %d", a.NumberAttr, v.GetI())
		}
		return int(v.GetI()), nil
	case a.TypeListAttr != "":
		v, ok := attrs[a.TypeListAttr]
		if !ok {
			return 0, fmt.Errorf("missing attr %q", a.TypeListAttr)
		}
		return len(v.GetList().GetType()), nil
	}
	return 1, nil
}

// outputIndex translates a function-body output reference (node, output
// arg name, index within that arg) to the node's flat output index.
func (r opRegistry) outputIndex(n *ndpb.NodeDef, arg string, idx int, fn funcLib) (int, error) {
	if f, ok := fn[n.Op]; ok { // direct call of a library function
		for i, oa := range f.Signature.GetOutputArg() {
			if oa.Name == arg {
				if idx != 0 {
					return 0, fmt.Errorf("output %s:%d of function call %q (function outputs are single tensors)", arg, idx, n.Name)
				}
				return i, nil
			}
		}
		return 0, fmt.Errorf("function %s has no output %q", n.Op, arg)
	}
	op, ok := r[n.Op]
	if !ok {
		// Unknown op: assume the common case of a single output arg list.
		return idx, nil
	}
	base := 0
	for _, oa := range op.OutputArg {
		c, err := argCount(oa, withDefaults(n.Attr, op))
		if err != nil {
			return 0, fmt.Errorf("node %q (%s): %v", n.Name, n.Op, err)
		}
		if oa.Name == arg {
			if idx >= c {
				return 0, fmt.Errorf("node %q (%s) output %s has %d tensors, index %d asked", n.Name, n.Op, arg, c, idx)
			}
			return base + idx, nil
		}
		base += c
	}
	return 0, fmt.Errorf("op %s (node %q) has no output arg %q", n.Op, n.Name, arg)
}

// withDefaults returns attrs completed with the OpDef's defaults (TF2
// SavedModels strip attrs equal to their default).
func withDefaults(attrs map[string]*avpb.AttrValue, op *opb.OpDef) map[string]*avpb.AttrValue {
	var out map[string]*avpb.AttrValue
	for _, a := range op.GetAttr() {
		if a.DefaultValue == nil {
			continue
		}
		if _, ok := attrs[a.Name]; ok {
			continue
		}
		if out == nil {
			out = make(map[string]*avpb.AttrValue, len(attrs)+4)
			for k, v := range attrs {
				out[k] = v
			}
		}
		out[a.Name] = proto.Clone(a.DefaultValue).(*avpb.AttrValue)
	}
	if out == nil {
		return attrs
	}
	return out
}

// parseFuncInput splits a FunctionDef input: "arg", "node:out:idx" or
// "node:out" (index 0).
func parseFuncInput(s string) (node, arg string, idx int, err error) {
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		return parts[0], "", -1, nil
	case 2:
		return parts[0], parts[1], 0, nil
	case 3:
		i, err := strconv.Atoi(parts[2])
		if err != nil || i < 0 {
			return "", "", 0, fmt.Errorf("bad input %q", s)
		}
		return parts[0], parts[1], i, nil
	}
	return "", "", 0, fmt.Errorf("bad input %q", s)
}

// parseTensorName splits a graph tensor name "node" or "node:i".
func parseTensorName(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, 0, nil
	}
	k, err := strconv.Atoi(s[i+1:])
	if err != nil || k < 0 || i == 0 {
		return "", 0, fmt.Errorf("bad tensor name %q", s)
	}
	return s[:i], k, nil
}

func tensorName(node string, i int) string {
	if i == 0 {
		return node
	}
	return node + ":" + strconv.Itoa(i)
}

// funcLib indexes a function library by name.
type funcLib map[string]*fpb.FunctionDef
