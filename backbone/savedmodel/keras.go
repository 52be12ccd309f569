package savedmodel

import (
	"fmt"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// Sequential builds a WriteSpec for a Keras Sequential CNN with the node
// names Keras 2.15 gives them ("sequential/conv2d/Conv2D",
// "sequential/conv2d/BiasAdd", "sequential/conv2d/Relu", ...). Methods
// record the first error; Spec reports it.
type Sequential struct {
	name  string
	spec  *WriteSpec
	cur   string  // FunctionDef ref of the current output
	shape []int64 // its static NHWC (or NC) shape
	err   error
}

// NewSequential starts a model whose input arg/signature key is inputName
// (Keras: "<first layer>_input") with shape e.g. (-1, 28, 28, 1).
func NewSequential(modelName, inputName string, inputShape ...int64) *Sequential {
	return &Sequential{
		name: modelName, cur: inputName, shape: append([]int64(nil), inputShape...),
		spec: &WriteSpec{ModelName: modelName, InputName: inputName, InputShape: append([]int64(nil), inputShape...)},
	}
}

func (s *Sequential) fail(format string, a ...any) *Sequential {
	if s.err == nil {
		s.err = fmt.Errorf("savedmodel: sequential: "+format, a...)
	}
	return s
}

func (s *Sequential) add(n *ndpb.NodeDef) string {
	s.spec.Body = append(s.spec.Body, n)
	op := builtinOps[n.Op]
	out := "output"
	if op != nil && len(op.OutputArg) > 0 {
		out = op.OutputArg[0].Name
	}
	return n.Name + ":" + out + ":0"
}

func (s *Sequential) scope(layer, op string) string { return s.name + "/" + layer + "/" + op }

// readVar adds a variable and the ReadVariableOp that the op named
// consumer reads it with; it returns the read's ref.
func (s *Sequential) readVar(layer, name, consumer string, v *tensor.Tensor) string {
	rv := consumer + "/ReadVariableOp"
	arg := argName(rv) + "_resource"
	s.spec.Variables = append(s.spec.Variables, &WriteVariable{Layer: layer, Name: name, Arg: arg, Value: v})
	return s.add(&ndpb.NodeDef{Name: rv, Op: "ReadVariableOp", Input: []string{arg}, Attr: map[string]*avpb.AttrValue{"dtype": AttrType(v.DType)}})
}

func t32() map[string]*avpb.AttrValue {
	return map[string]*avpb.AttrValue{"T": AttrType(tensor.Float32)}
}

func (s *Sequential) activation(layer, act string) {
	switch act {
	case "", "linear":
	case "relu":
		s.cur = s.add(&ndpb.NodeDef{Name: s.scope(layer, "Relu"), Op: "Relu", Input: []string{s.cur}, Attr: t32()})
	case "softmax":
		s.cur = s.add(&ndpb.NodeDef{Name: s.scope(layer, "Softmax"), Op: "Softmax", Input: []string{s.cur}, Attr: t32()})
	default:
		s.fail("layer %s: unsupported activation %q", layer, act)
	}
}

func outDim(in, k, stride int64, padding string) int64 {
	if in < 0 {
		return -1
	}
	if padding == "VALID" {
		return (in-k)/stride + 1
	}
	return (in + stride - 1) / stride
}

// Conv2D adds a Keras Conv2D layer: kernel HWIO, bias [O], square stride,
// padding "SAME" or "VALID", activation "relu", "softmax" or "".
func (s *Sequential) Conv2D(layer string, kernel, bias *tensor.Tensor, stride int, padding, activation string) *Sequential {
	if s.err != nil {
		return s
	}
	if len(s.shape) != 4 || kernel.Rank() != 4 || bias.Rank() != 1 || kernel.Shape[3] != bias.Shape[0] || int64(kernel.Shape[2]) != s.shape[3] {
		return s.fail("conv %s: kernel %v / bias %v do not fit input %v", layer, kernel.Shape, bias.Shape, s.shape)
	}
	if padding != "SAME" && padding != "VALID" {
		return s.fail("conv %s: padding %q", layer, padding)
	}
	conv := s.scope(layer, "Conv2D")
	kr := s.readVar(layer, "kernel", conv, kernel)
	a := t32()
	a["padding"] = AttrString(padding)
	a["strides"] = AttrInts(1, int64(stride), int64(stride), 1)
	s.cur = s.add(&ndpb.NodeDef{Name: conv, Op: "Conv2D", Input: []string{s.cur, kr}, Attr: a})
	badd := s.scope(layer, "BiasAdd")
	br := s.readVar(layer, "bias", badd, bias)
	s.cur = s.add(&ndpb.NodeDef{Name: badd, Op: "BiasAdd", Input: []string{s.cur, br}, Attr: t32()})
	s.activation(layer, activation)
	s.shape = []int64{s.shape[0], outDim(s.shape[1], int64(kernel.Shape[0]), int64(stride), padding), outDim(s.shape[2], int64(kernel.Shape[1]), int64(stride), padding), int64(kernel.Shape[3])}
	s.spec.Layers = append(s.spec.Layers, layer)
	return s
}

// BatchNorm adds a Keras BatchNormalization layer at inference, as tf-keras
// writes it: FusedBatchNormV3 (NHWC) reading gamma, beta and the moving
// mean and variance, each [C].
func (s *Sequential) BatchNorm(layer string, gamma, beta, mean, variance *tensor.Tensor, eps float32) *Sequential {
	if s.err != nil {
		return s
	}
	c := s.shape[len(s.shape)-1]
	for _, v := range []*tensor.Tensor{gamma, beta, mean, variance} {
		if v.Rank() != 1 || int64(v.Shape[0]) != c {
			return s.fail("batch norm %s: parameter %v does not fit input %v", layer, v.Shape, s.shape)
		}
	}
	bn := s.scope(layer, "FusedBatchNormV3")
	g := s.readVar(layer, "gamma", s.scope(layer, "x"), gamma)
	b := s.readVar(layer, "beta", s.scope(layer, "x_1"), beta)
	m := s.readVar(layer, "moving_mean", bn, mean)
	v := s.readVar(layer, "moving_variance", bn+"_1", variance)
	a := t32()
	a["U"] = AttrType(tensor.Float32)
	a["epsilon"] = &avpb.AttrValue{Value: &avpb.AttrValue_F{F: eps}}
	a["is_training"] = AttrBool(false)
	a["data_format"] = AttrString("NHWC")
	s.cur = s.add(&ndpb.NodeDef{Name: bn, Op: "FusedBatchNormV3", Input: []string{s.cur, g, b, m, v}, Attr: a})
	s.spec.Layers = append(s.spec.Layers, layer)
	return s
}

// scalar adds out = cur OP c with c a float32 Const named constName, as
// Keras writes `x * c` or `x - c` inside a layer.
func (s *Sequential) scalar(op, name, constName string, c float32) {
	v, _ := AttrTensor(&tensor.Tensor{DType: tensor.Float32, Shape: []int{}, F32: []float32{c}})
	cr := s.add(&ndpb.NodeDef{Name: constName, Op: "Const", Attr: map[string]*avpb.AttrValue{"dtype": AttrType(tensor.Float32), "value": v}})
	s.cur = s.add(&ndpb.NodeDef{Name: name, Op: op, Input: []string{s.cur, cr}, Attr: t32()})
}

// Rescaling adds a Keras Rescaling layer, x*scale + offset, with the
// nodes Keras 2.15 writes for a float32 input: Cast/x and Cast_1/x
// (the constants), mul and add.
func (s *Sequential) Rescaling(layer string, scale, offset float32) *Sequential {
	if s.err != nil {
		return s
	}
	s.scalar("Mul", s.scope(layer, "mul"), s.scope(layer, "Cast/x"), scale)
	s.scalar("AddV2", s.scope(layer, "add"), s.scope(layer, "Cast_1/x"), offset)
	s.spec.Layers = append(s.spec.Layers, layer)
	return s
}

// Lambda adds a Keras Lambda layer computing x/div - sub, as `lambda x:
// x / 127.5 - 1` writes it: truediv (RealDiv) and sub with their "y"
// constants.
func (s *Sequential) Lambda(layer string, div, sub float32) *Sequential {
	if s.err != nil {
		return s
	}
	s.scalar("RealDiv", s.scope(layer, "truediv"), s.scope(layer, "truediv/y"), div)
	s.scalar("Sub", s.scope(layer, "sub"), s.scope(layer, "sub/y"), sub)
	s.spec.Layers = append(s.spec.Layers, layer)
	return s
}

// MaxPool2D adds a Keras MaxPooling2D layer.
func (s *Sequential) MaxPool2D(layer string, pool, stride int, padding string) *Sequential {
	if s.err != nil {
		return s
	}
	if len(s.shape) != 4 {
		return s.fail("maxpool %s: input %v is not NHWC", layer, s.shape)
	}
	a := t32()
	a["ksize"] = AttrInts(1, int64(pool), int64(pool), 1)
	a["strides"] = AttrInts(1, int64(stride), int64(stride), 1)
	a["padding"] = AttrString(padding)
	s.cur = s.add(&ndpb.NodeDef{Name: s.scope(layer, "MaxPool"), Op: "MaxPool", Input: []string{s.cur}, Attr: a})
	s.shape = []int64{s.shape[0], outDim(s.shape[1], int64(pool), int64(stride), padding), outDim(s.shape[2], int64(pool), int64(stride), padding), s.shape[3]}
	s.spec.Layers = append(s.spec.Layers, layer)
	return s
}

// GlobalAveragePooling2D adds the Keras layer: Mean over H and W.
func (s *Sequential) GlobalAveragePooling2D(layer string) *Sequential {
	if s.err != nil {
		return s
	}
	if len(s.shape) != 4 {
		return s.fail("global average pooling %s: input %v is not NHWC", layer, s.shape)
	}
	idx := s.scope(layer, "Mean/reduction_indices")
	v, _ := AttrTensor(&tensor.Tensor{DType: tensor.Int32, Shape: []int{2}, I32: []int32{1, 2}})
	ir := s.add(&ndpb.NodeDef{Name: idx, Op: "Const", Attr: map[string]*avpb.AttrValue{"dtype": AttrType(tensor.Int32), "value": v}})
	a := t32()
	a["Tidx"] = AttrType(tensor.Int32)
	s.cur = s.add(&ndpb.NodeDef{Name: s.scope(layer, "Mean"), Op: "Mean", Input: []string{s.cur, ir}, Attr: a})
	s.shape = []int64{s.shape[0], s.shape[3]}
	s.spec.Layers = append(s.spec.Layers, layer)
	return s
}

// Dense adds a Keras Dense layer: kernel [in, out], bias [out].
func (s *Sequential) Dense(layer string, kernel, bias *tensor.Tensor, activation string) *Sequential {
	if s.err != nil {
		return s
	}
	if len(s.shape) != 2 || kernel.Rank() != 2 || bias.Rank() != 1 || int64(kernel.Shape[0]) != s.shape[1] || kernel.Shape[1] != bias.Shape[0] {
		return s.fail("dense %s: kernel %v / bias %v do not fit input %v", layer, kernel.Shape, bias.Shape, s.shape)
	}
	mm := s.scope(layer, "MatMul")
	kr := s.readVar(layer, "kernel", mm, kernel)
	s.cur = s.add(&ndpb.NodeDef{Name: mm, Op: "MatMul", Input: []string{s.cur, kr}, Attr: t32()})
	badd := s.scope(layer, "BiasAdd")
	br := s.readVar(layer, "bias", badd, bias)
	s.cur = s.add(&ndpb.NodeDef{Name: badd, Op: "BiasAdd", Input: []string{s.cur, br}, Attr: t32()})
	s.activation(layer, activation)
	s.shape = []int64{s.shape[0], int64(kernel.Shape[1])}
	s.spec.Layers = append(s.spec.Layers, layer)
	return s
}

// Spec finishes the model; its signature output key is the last layer's
// name, as Keras does.
func (s *Sequential) Spec() (*WriteSpec, error) {
	if s.err != nil {
		return nil, s.err
	}
	if len(s.spec.Layers) == 0 {
		return nil, fmt.Errorf("savedmodel: sequential: no layers")
	}
	sp := *s.spec
	sp.OutputName = sp.Layers[len(sp.Layers)-1]
	sp.Output = s.cur
	sp.OutputShape = append([]int64(nil), s.shape...)
	return &sp, nil
}
