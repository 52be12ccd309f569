package savedmodel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	fpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/function_go_proto"
	gpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	opb "github.com/galeone/tensorflow/tensorflow/go/core/framework/op_def_go_proto"
	typb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	pb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// The writer lays a model out as TensorFlow 2.15 saves a Keras model
// (model.save(dir, save_format="tf")):
//
//	main graph:  VarHandleOp per variable (+ "<var>/Read/ReadVariableOp"),
//	             NoOp, Const (the checkpoint object graph),
//	             serving_default_<input> Placeholder,
//	             StatefulPartitionedCall   -> __inference_signature_wrapper_*
//	             saver_filename Placeholder,
//	             StatefulPartitionedCall_1 -> __inference__traced_save_*
//	             StatefulPartitionedCall_2 -> __inference__traced_restore_*
//	functions:   signature wrapper -> StatefulPartitionedCall ->
//	             __inference__wrapped_model_* (the forward body)
//	checkpoint:  layer_with_weights-N/<name>/.ATTRIBUTES/VARIABLE_VALUE
//	             and _CHECKPOINTABLE_OBJECT_GRAPH.

// Versions written into meta_info_def and the GraphDef.
const (
	WriteTFVersion    = "2.15.0"
	WriteTFGitVersion = "v2.15.0-rc1-8-g6887368d6d4"
	graphDefVersion   = 1645 // TF_GRAPH_DEF_VERSION of 2.15
	graphMinConsumer  = 12   // what TF2 SavedModels carry
)

// Fixed function-name suffixes: TensorFlow numbers traced functions with a
// process-wide counter; fixed numbers keep our output reproducible. The
// forward functions and signature wrappers are numbered from 1001 and 1101.
const (
	fnTracedSave = "__inference__traced_save_1201"
	fnTracedRest = "__inference__traced_restore_1301"
)

// Signature i > 0 gets its own forward function and wrapper, numbered on.
func fnWrappedModelN(i int) string { return fmt.Sprintf("__inference__wrapped_model_%d", 1001+i) }
func fnSigWrapperN(i int) string   { return fmt.Sprintf("__inference_signature_wrapper_%d", 1101+i) }

// callName is the main graph's i-th StatefulPartitionedCall, as TensorFlow
// numbers them.
func callName(i int) string {
	if i == 0 {
		return "StatefulPartitionedCall"
	}
	return fmt.Sprintf("StatefulPartitionedCall_%d", i)
}

// suffixed is TensorFlow's naming of the i-th node or arg of one kind
// ("Identity", "Identity_1", ...).
func suffixed(name string, i int) string {
	if i == 0 {
		return name
	}
	return fmt.Sprintf("%s_%d", name, i)
}

// WriteSpec describes a single-input, single-output Keras-style model.
type WriteSpec struct {
	// ModelName is the Keras model name ("sequential"); it labels the
	// object graph.
	ModelName string
	// InputName is the forward function's input arg and the signature's
	// input key (Keras Sequential uses "<first layer>_input").
	InputName  string
	InputDType tensor.DType // default Float32
	InputShape []int64      // -1 for unknown dims (the batch)
	// OutputName is the signature's output key (Keras: the last layer's name).
	OutputName  string
	OutputDType tensor.DType // default Float32
	OutputShape []int64
	// Body holds the forward function's nodes in FunctionDef form: inputs
	// are InputName, a variable's Arg, or "node:out_arg:idx".
	Body []*ndpb.NodeDef
	// Output is the FunctionDef ref of the result,
	// e.g. "sequential/dense/Softmax:softmax:0".
	Output string
	// Variables in creation order; each is a resource arg of the forward
	// function named Arg that the body reads with ReadVariableOp.
	Variables []*WriteVariable
	// Layers lists every Keras layer name in order, weightless ones too
	// (they become "layer-N" children in the object graph). Optional:
	// defaults to the layers of Variables.
	Layers []string
	// Signatures, when set, replace the one signature the Input*, Output*
	// and Body fields describe: each has its own forward function over
	// the shared Variables.
	Signatures []*WriteSignature
	// OpDefs adds op definitions for ops outside graft's registry (a
	// backbone's own stripped op list), for the written stripped_op_list.
	OpDefs map[string]*opb.OpDef
	// Functions are added to the function library as they are: the
	// functions a body's functional ops (While, ...) name.
	Functions []*fpb.FunctionDef
}

// WriteSignature is one signature with a single input and any outputs.
type WriteSignature struct {
	Key        string // e.g. "serving_default"
	InputName  string
	InputDType tensor.DType // default Float32
	InputShape []int64
	// Outputs are written in name order, the order in which TensorFlow
	// flattens a dict of outputs.
	Outputs []WriteOutput
	// Body is the forward function's nodes, as WriteSpec.Body.
	Body []*ndpb.NodeDef
}

// WriteOutput is one named output of a signature.
type WriteOutput struct {
	Name  string
	DType tensor.DType // default Float32
	Shape []int64
	Ref   string // FunctionDef ref in the body, "node:out_arg:idx"
}

// WriteVariable is one float variable of a Keras layer.
type WriteVariable struct {
	Layer string // Keras layer name, e.g. "conv2d"
	Name  string // attribute name, e.g. "kernel"
	Arg   string // forward-function resource arg, e.g. "sequential_conv2d_conv2d_readvariableop_resource"
	Value *tensor.Tensor
}

// FullName is the variable's name, "<layer>/<name>" as Keras names it.
func (v *WriteVariable) FullName() string { return v.Layer + "/" + v.Name }

// Write writes spec as a SavedModel directory dir (which must not exist):
// saved_model.pb, variables/variables.{index,data-00000-of-00001} and an
// empty assets/. It writes into a temporary sibling and renames it, so dir
// appears complete or not at all.
func Write(dir string, spec *WriteSpec) error {
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("savedmodel: write %s: %w", dir, os.ErrExist)
	}
	w, err := newModelWriter(spec)
	if err != nil {
		return fmt.Errorf("savedmodel: write %s: %w", dir, err)
	}
	sm, index, data, err := w.build()
	if err != nil {
		return fmt.Errorf("savedmodel: write %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("savedmodel: write %s: %w", dir, err)
	}
	files := map[string][]byte{
		"saved_model.pb":                          sm,
		"variables/variables.index":               index,
		"variables/variables.data-00000-of-00001": data,
	}
	err = writeFiles(tmp, files)
	if err == nil { // MkdirTemp makes the folder private; a model is not
		err = os.Chmod(tmp, 0o755)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("savedmodel: write %s: %w", dir, err)
	}
	return nil
}

func writeFiles(root string, files map[string][]byte) error {
	for _, d := range []string{"variables", "assets"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(files) {
		if err := writeFile(filepath.Join(root, filepath.FromSlash(name)), files[name]); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes and syncs one file; tests replace it to fill the disk.
var writeFile = func(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type modelWriter struct {
	s      *WriteSpec
	sigs   []*WriteSignature
	layers []string       // all layers in order
	withW  map[string]int // layer -> layer_with_weights index
	keys   []string       // checkpoint key per variable
	ops    map[string]bool
}

func newModelWriter(s *WriteSpec) (*modelWriter, error) {
	if s.ModelName == "" {
		s.ModelName = "sequential"
	}
	sigs := append([]*WriteSignature(nil), s.Signatures...)
	if len(sigs) == 0 {
		if s.InputName == "" || s.OutputName == "" || s.Output == "" {
			return nil, errors.New("spec needs InputName, OutputName and Output")
		}
		sigs = []*WriteSignature{{
			Key: "serving_default", InputName: s.InputName, InputDType: s.InputDType, InputShape: s.InputShape,
			Outputs: []WriteOutput{{Name: s.OutputName, DType: s.OutputDType, Shape: s.OutputShape, Ref: s.Output}},
			Body:    s.Body,
		}}
	}
	keys := map[string]bool{}
	for i, sg := range sigs {
		c := *sg
		if c.Key == "" || keys[c.Key] || c.InputName == "" || len(c.Outputs) == 0 {
			return nil, fmt.Errorf("signature %d (%q) needs a unique key, an input name and outputs", i, c.Key)
		}
		keys[c.Key] = true
		if c.InputDType == tensor.Invalid {
			c.InputDType = tensor.Float32
		}
		c.Outputs = append([]WriteOutput(nil), c.Outputs...)
		for j := range c.Outputs {
			if c.Outputs[j].DType == tensor.Invalid {
				c.Outputs[j].DType = tensor.Float32
			}
			if c.Outputs[j].Name == "" || c.Outputs[j].Ref == "" {
				return nil, fmt.Errorf("signature %q: output %d needs Name and Ref", c.Key, j)
			}
		}
		sort.Slice(c.Outputs, func(a, b int) bool { return c.Outputs[a].Name < c.Outputs[b].Name })
		sigs[i] = &c
	}
	w := &modelWriter{s: s, sigs: sigs, withW: map[string]int{}, ops: map[string]bool{}}
	seen := map[string]bool{}
	for _, l := range s.Layers {
		if !seen[l] {
			seen[l] = true
			w.layers = append(w.layers, l)
		}
	}
	names := map[string]bool{}
	for _, v := range s.Variables {
		if v.Value == nil || v.Layer == "" || v.Name == "" || v.Arg == "" {
			return nil, fmt.Errorf("variable %q/%q needs Layer, Name, Arg and Value", v.Layer, v.Name)
		}
		if names[v.FullName()] {
			return nil, fmt.Errorf("duplicate variable %s", v.FullName())
		}
		names[v.FullName()] = true
		if !seen[v.Layer] {
			seen[v.Layer] = true
			w.layers = append(w.layers, v.Layer)
		}
		if _, ok := w.withW[v.Layer]; !ok {
			w.withW[v.Layer] = len(w.withW)
		}
		w.keys = append(w.keys, fmt.Sprintf("layer_with_weights-%d/%s/.ATTRIBUTES/VARIABLE_VALUE", w.withW[v.Layer], v.Name))
	}
	return w, nil
}

// argName turns a graph name into a function arg name as TensorFlow does
// when it captures a tensor: lower case, "/" -> "_".
func argName(s string) string {
	return strings.ToLower(strings.NewReplacer("/", "_", "-", "_", ".", "_").Replace(s))
}

func shape64(t *tensor.Tensor) []int64 {
	d := make([]int64, len(t.Shape))
	for i, x := range t.Shape {
		d[i] = int64(x)
	}
	return d
}

func (w *modelWriter) node(name, op string, inputs []string, attr map[string]*avpb.AttrValue) *ndpb.NodeDef {
	w.ops[op] = true
	if attr == nil {
		attr = map[string]*avpb.AttrValue{}
	}
	return &ndpb.NodeDef{Name: name, Op: op, Input: inputs, Attr: attr}
}

func (w *modelWriter) constNode(name string, t *tensor.Tensor, outShapes bool) (*ndpb.NodeDef, error) {
	v, err := AttrTensor(t)
	if err != nil {
		return nil, err
	}
	if t.DType != tensor.String && t.Len() <= 1 && len(t.Shape) == 0 {
		// TensorFlow writes scalars with *_val fields.
		v.GetTensor().TensorContent = nil
		switch t.DType {
		case tensor.Float32:
			v.GetTensor().FloatVal = t.F32
		case tensor.Int32:
			v.GetTensor().IntVal = t.I32
		}
	}
	a := map[string]*avpb.AttrValue{"dtype": AttrType(t.DType), "value": v}
	if outShapes {
		a["_output_shapes"] = AttrShapes(shape64(t))
	}
	return w.node(name, "Const", nil, a), nil
}

func stringScalar(s string) *tensor.Tensor {
	t := tensor.New(tensor.String)
	t.S[0] = []byte(s)
	return t
}

func stringVec(ss []string) *tensor.Tensor {
	t := tensor.New(tensor.String, len(ss))
	for i, s := range ss {
		t.S[i] = []byte(s)
	}
	return t
}

func int32Scalar(v int32) *tensor.Tensor {
	t := tensor.New(tensor.Int32)
	t.I32[0] = v
	return t
}

// configProto is the serialized ConfigProto TF2 puts on partitioned calls
// (CPU and GPU device counts, allow_soft_placement, etc.).
const configProto = "\n\x07\n\x03CPU\x10\x01\n\x07\n\x03GPU\x10\x002\x02J\x008\x01\x82\x01\x00"

func (w *modelWriter) call(name, fn string, inputs []string, tin []tensor.DType, tout []tensor.DType, readOnly []int64) *ndpb.NodeDef {
	a := map[string]*avpb.AttrValue{
		"Tin": AttrTypes(tin...), "Tout": AttrTypes(tout...), "f": AttrFunc(fn),
		"_collective_manager_ids":    AttrInts(),
		"_read_only_resource_inputs": AttrInts(readOnly...),
		"config_proto":               AttrString(configProto),
	}
	return w.node(name, "StatefulPartitionedCall", inputs, a)
}

const resource = tensor.DType(typb.DataType_DT_RESOURCE)

func (w *modelWriter) build() (savedModel, index, data []byte, err error) {
	s := w.s
	objGraph, err := w.objectGraphs()
	if err != nil {
		return nil, nil, nil, err
	}
	ckptGraph, err := proto.MarshalOptions{Deterministic: true}.Marshal(objGraph.checkpoint)
	if err != nil {
		return nil, nil, nil, err
	}

	// Main graph.
	var main []*ndpb.NodeDef
	var varNodes, readNodes []string
	for _, v := range s.Variables {
		shp := shape64(v.Value)
		name := v.FullName()
		main = append(main, w.node(name, "VarHandleOp", nil, map[string]*avpb.AttrValue{
			"_output_shapes": AttrShapes([]int64{}),
			"dtype":          AttrType(v.Value.DType),
			"shape":          AttrShape(shp),
			"shared_name":    AttrString(name),
		}))
		main = append(main, w.node(name+"/Read/ReadVariableOp", "ReadVariableOp", []string{name}, map[string]*avpb.AttrValue{
			"_output_shapes": AttrShapes(shp),
			"dtype":          AttrType(v.Value.DType),
		}))
		varNodes = append(varNodes, name)
		readNodes = append(readNodes, name+"/Read/ReadVariableOp")
	}
	main = append(main, w.node("NoOp", "NoOp", nil, nil))
	cg, err := w.constNode("Const", &tensor.Tensor{DType: tensor.String, Shape: []int{}, S: [][]byte{ckptGraph}}, true)
	if err != nil {
		return nil, nil, nil, err
	}
	main = append(main, cg)
	n := len(w.sigs)
	sigDefs := map[string]*pb.SignatureDef{
		"__saved_model_init_op": {Outputs: map[string]*pb.TensorInfo{
			"__saved_model_init_op": {Encoding: &pb.TensorInfo_Name{Name: "NoOp"}, TensorShape: shapeProto64(nil)},
		}},
	}
	for i, sg := range w.sigs {
		inPH := sg.Key + "_" + sg.InputName
		main = append(main, w.node(inPH, "Placeholder", nil, map[string]*avpb.AttrValue{
			"_output_shapes": AttrShapes(sg.InputShape), "dtype": AttrType(sg.InputDType), "shape": AttrShape(sg.InputShape),
		}))
		tin := []tensor.DType{sg.InputDType}
		var ro []int64
		for i := range s.Variables {
			tin = append(tin, resource)
			ro = append(ro, int64(i+1))
		}
		var touts []tensor.DType
		var oshapes [][]int64
		outs := map[string]*pb.TensorInfo{}
		for j, o := range sg.Outputs {
			touts = append(touts, o.DType)
			oshapes = append(oshapes, o.Shape)
			outs[o.Name] = &pb.TensorInfo{
				Encoding: &pb.TensorInfo_Name{Name: fmt.Sprintf("%s:%d", callName(i), j)}, Dtype: dtypeProto(o.DType), TensorShape: shapeProto64(o.Shape),
			}
		}
		sc := w.call(callName(i), fnSigWrapperN(i), append([]string{inPH}, varNodes...), tin, touts, ro)
		sc.Attr["_output_shapes"] = AttrShapes(oshapes...)
		main = append(main, sc)
		sigDefs[sg.Key] = &pb.SignatureDef{
			Inputs: map[string]*pb.TensorInfo{sg.InputName: {
				Encoding: &pb.TensorInfo_Name{Name: inPH + ":0"}, Dtype: dtypeProto(sg.InputDType), TensorShape: shapeProto64(sg.InputShape),
			}},
			Outputs:    outs,
			MethodName: "tensorflow/serving/predict",
		}
	}
	saveCall, restCall := callName(n), callName(n+1)
	main = append(main, w.node("saver_filename", "Placeholder", nil, map[string]*avpb.AttrValue{
		"_output_shapes": AttrShapes([]int64{}), "dtype": AttrType(tensor.String), "shape": AttrShape([]int64{}),
	}))
	saveTin := []tensor.DType{tensor.String}
	for _, v := range s.Variables {
		saveTin = append(saveTin, v.Value.DType)
	}
	saveTin = append(saveTin, tensor.String)
	save := w.call(saveCall, fnTracedSave, append(append([]string{"saver_filename"}, readNodes...), "Const"), saveTin, []tensor.DType{tensor.String}, nil)
	save.Attr["_output_shapes"] = AttrShapes([]int64{})
	main = append(main, save)
	restTin := []tensor.DType{tensor.String}
	for range s.Variables {
		restTin = append(restTin, resource)
	}
	rest := w.call(restCall, fnTracedRest, append([]string{"saver_filename"}, varNodes...), restTin, []tensor.DType{tensor.String}, nil)
	rest.Attr["_output_shapes"] = AttrShapes([]int64{})
	main = append(main, rest)

	// Function library.
	var funcs []*fpb.FunctionDef
	for i := range w.sigs {
		model, err := w.modelFunc(i)
		if err != nil {
			return nil, nil, nil, err
		}
		funcs = append(funcs, model, w.sigWrapperFunc(i))
	}
	save2, err := w.saveFunc()
	if err != nil {
		return nil, nil, nil, err
	}
	rest2, err := w.restoreFunc()
	if err != nil {
		return nil, nil, nil, err
	}
	funcs = append(funcs, save2, rest2)
	for _, f := range s.Functions {
		for _, n := range f.GetNodeDef() {
			w.ops[n.Op] = true
		}
		funcs = append(funcs, f)
	}
	sort.Slice(funcs, func(i, j int) bool { return funcs[i].Signature.Name < funcs[j].Signature.Name })

	opList := &opb.OpList{}
	for _, op := range sortedKeys(w.ops) {
		def, ok := builtinOps[op]
		if !ok {
			def, ok = s.OpDefs[op]
		}
		if !ok {
			return nil, nil, nil, fmt.Errorf("%w: op %s is not in graft's op registry (opdefs.pbtxt)", ErrUnsupported, op)
		}
		opList.Op = append(opList.Op, stripDocs(def))
	}

	mg := &pb.MetaGraphDef{
		MetaInfoDef: &pb.MetaGraphDef_MetaInfoDef{
			StrippedOpList: opList, Tags: []string{DefaultTag},
			TensorflowVersion: WriteTFVersion, TensorflowGitVersion: WriteTFGitVersion,
			StrippedDefaultAttrs: true,
		},
		GraphDef: &gpb.GraphDef{
			Node:     main,
			Library:  &fpb.FunctionDefLibrary{Function: funcs},
			Versions: versionDef(graphDefVersion, graphMinConsumer),
		},
		SaverDef: &pb.SaverDef{
			FilenameTensorName: "saver_filename:0", SaveTensorName: saveCall + ":0",
			RestoreOpName: restCall, Version: pb.SaverDef_V2,
		},
		CollectionDef: map[string]*pb.CollectionDef{
			"saved_model_main_op": {Kind: &pb.CollectionDef_NodeList_{NodeList: &pb.CollectionDef_NodeList{Value: []string{"NoOp"}}}},
		},
		SignatureDef:   sigDefs,
		ObjectGraphDef: objGraph.saved,
	}
	savedModel, err = proto.MarshalOptions{Deterministic: true}.Marshal(&pb.SavedModel{SavedModelSchemaVersion: 1, MetaGraphs: []*pb.MetaGraphDef{mg}})
	if err != nil {
		return nil, nil, nil, err
	}

	bw := NewBundleWriter()
	for i, v := range s.Variables {
		if err := bw.Add(w.keys[i], v.Value); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := bw.Add(CheckpointGraphKey, &tensor.Tensor{DType: tensor.String, Shape: []int{}, S: [][]byte{ckptGraph}}); err != nil {
		return nil, nil, nil, err
	}
	index, data, err = bw.Finish()
	return savedModel, index, data, err
}

// stripDocs copies an OpDef without documentation, as stripped_op_list does.
func stripDocs(op *opb.OpDef) *opb.OpDef {
	c := proto.Clone(op).(*opb.OpDef)
	c.Summary, c.Description = "", ""
	for _, a := range append(append([]*opb.OpDef_ArgDef{}, c.InputArg...), c.OutputArg...) {
		a.Description = ""
	}
	for _, a := range c.Attr {
		a.Description = ""
	}
	return c
}

func argDef(name string, dt tensor.DType) *opb.OpDef_ArgDef {
	return &opb.OpDef_ArgDef{Name: name, Type: dtypeProto(dt)}
}

// funcDef assembles a FunctionDef with TF2's attrs and arg attrs.
func funcDef(name string, in, out []*opb.OpDef_ArgDef, inShapes [][]int64, nodes []*ndpb.NodeDef, ret map[string]string, controlOut []string) *fpb.FunctionDef {
	f := &fpb.FunctionDef{
		Signature: &opb.OpDef{Name: name, InputArg: in, OutputArg: out, ControlOutput: controlOut, IsStateful: true},
		Attr: map[string]*avpb.AttrValue{
			"_construction_context": AttrString("kEagerRuntime"),
			"_input_shapes":         AttrShapes(inShapes...),
		},
		ArgAttr: map[uint32]*fpb.FunctionDef_ArgAttrs{},
		NodeDef: nodes,
		Ret:     ret,
	}
	// Each control output names the node it waits for in control_ret, as
	// TensorFlow writes it (its name is the node's); tf.saved_model.load
	// fails on a control output without one.
	if len(controlOut) > 0 {
		f.ControlRet = make(map[string]string, len(controlOut))
		for _, c := range controlOut {
			f.ControlRet[c] = c
		}
	}
	for i, a := range in {
		f.ArgAttr[uint32(i)] = &fpb.FunctionDef_ArgAttrs{Attr: map[string]*avpb.AttrValue{
			"_output_shapes":       AttrShapes(inShapes[i]),
			"_user_specified_name": AttrString(a.Name),
		}}
	}
	return f
}

// modelFunc is signature i's forward function: its body plus the
// trailing Identity/NoOp TensorFlow adds for automatic control
// dependencies.
func (w *modelWriter) modelFunc(i int) (*fpb.FunctionDef, error) {
	s, sg := w.s, w.sigs[i]
	in := []*opb.OpDef_ArgDef{argDef(sg.InputName, sg.InputDType)}
	shapes := [][]int64{sg.InputShape}
	args := map[string]bool{sg.InputName: true}
	for _, v := range s.Variables {
		in = append(in, argDef(v.Arg, resource))
		shapes = append(shapes, nil)
		args[v.Arg] = true
	}
	var nodes []*ndpb.NodeDef
	var reads []string
	names := map[string]bool{}
	reserved := map[string]bool{"NoOp": true}
	for j := range sg.Outputs {
		reserved[suffixed("Identity", j)] = true
	}
	for _, n := range sg.Body {
		if names[n.Name] || reserved[n.Name] {
			return nil, fmt.Errorf("%w: body node name %q is duplicated or reserved", ErrGraph, n.Name)
		}
		names[n.Name] = true
		w.ops[n.Op] = true
		c := proto.Clone(n).(*ndpb.NodeDef)
		nodes = append(nodes, c)
		if n.Op == "ReadVariableOp" {
			reads = append(reads, "^"+n.Name)
		}
	}
	for _, n := range sg.Body { // every input must name an arg or a body node
		for _, inp := range n.Input {
			node, _, _, err := parseFuncInput(strings.TrimPrefix(inp, "^"))
			if err != nil || (!args[node] && !names[node]) {
				return nil, fmt.Errorf("%w: body node %q has dangling input %q", ErrGraph, n.Name, inp)
			}
		}
	}
	var outs []*opb.OpDef_ArgDef
	ret := map[string]string{}
	for j, o := range sg.Outputs {
		id := suffixed("Identity", j)
		nodes = append(nodes, w.node(id, "Identity", []string{o.Ref, "^NoOp"}, map[string]*avpb.AttrValue{"T": AttrType(o.DType)}))
		arg := strings.ToLower(id)
		outs = append(outs, argDef(arg, o.DType))
		ret[arg] = id + ":output:0"
	}
	nodes = append(nodes, w.node("NoOp", "NoOp", reads, map[string]*avpb.AttrValue{"_acd_function_control_output": AttrBool(true)}))
	var ctl []string
	for _, r := range reads {
		ctl = append(ctl, r[1:])
	}
	return funcDef(fnWrappedModelN(i), in, outs, shapes, nodes, ret, ctl), nil
}

func (w *modelWriter) sigWrapperFunc(i int) *fpb.FunctionDef {
	s, sg := w.s, w.sigs[i]
	in := []*opb.OpDef_ArgDef{argDef(sg.InputName, sg.InputDType)}
	shapes := [][]int64{sg.InputShape}
	inputs := []string{sg.InputName}
	tin := []tensor.DType{sg.InputDType}
	var ro []int64
	for i := range s.Variables {
		name := "unknown"
		if i > 0 {
			name = fmt.Sprintf("unknown_%d", i-1)
		}
		in = append(in, argDef(name, resource))
		shapes = append(shapes, nil)
		inputs = append(inputs, name)
		tin = append(tin, resource)
		ro = append(ro, int64(i+1))
	}
	var touts []tensor.DType
	for _, o := range sg.Outputs {
		touts = append(touts, o.DType)
	}
	nodes := []*ndpb.NodeDef{w.call("StatefulPartitionedCall", fnWrappedModelN(i), inputs, tin, touts, ro)}
	var outs []*opb.OpDef_ArgDef
	ret := map[string]string{}
	for j, o := range sg.Outputs {
		id := suffixed("Identity", j)
		nodes = append(nodes, w.node(id, "Identity", []string{fmt.Sprintf("StatefulPartitionedCall:output:%d", j), "^NoOp"}, map[string]*avpb.AttrValue{"T": AttrType(o.DType)}))
		arg := strings.ToLower(id)
		outs = append(outs, argDef(arg, o.DType))
		ret[arg] = id + ":output:0"
	}
	nodes = append(nodes, w.node("NoOp", "NoOp", []string{"^StatefulPartitionedCall"}, map[string]*avpb.AttrValue{"_acd_function_control_output": AttrBool(true)}))
	return funcDef(fnSigWrapperN(i), in, outs, shapes, nodes, ret, []string{"StatefulPartitionedCall"})
}

func (w *modelWriter) ckptNames() ([]string, []string) {
	names := append(append([]string(nil), w.keys...), CheckpointGraphKey)
	return names, make([]string, len(names))
}

func (w *modelWriter) saveFunc() (*fpb.FunctionDef, error) {
	s := w.s
	in := []*opb.OpDef_ArgDef{argDef("file_prefix", tensor.String)}
	shapes := [][]int64{{}}
	var values []string
	var dts []tensor.DType
	for _, v := range s.Variables {
		a := "savev2_" + argName(v.FullName()) + "_read_readvariableop"
		in = append(in, argDef(a, v.Value.DType))
		shapes = append(shapes, shape64(v.Value))
		values = append(values, a)
		dts = append(dts, v.Value.DType)
	}
	in = append(in, argDef("savev2_const", tensor.String))
	shapes = append(shapes, []int64{})
	values = append(values, "savev2_const")
	dts = append(dts, tensor.String)
	names, slices := w.ckptNames()
	var nodes []*ndpb.NodeDef
	add := func(n *ndpb.NodeDef, err error) error {
		if err == nil {
			nodes = append(nodes, n)
		}
		return err
	}
	str := func(name, v string) error { return add(w.constNode(name, stringScalar(v), false)) }
	nodes = append(nodes, w.node("StaticRegexFullMatch", "StaticRegexFullMatch", []string{"file_prefix"}, map[string]*avpb.AttrValue{"pattern": AttrString("^s3://.*")}))
	if err := errors.Join(str("Const", ".part"), str("Const_1", "_temp/part")); err != nil {
		return nil, err
	}
	nodes = append(nodes,
		w.node("Select", "Select", []string{"StaticRegexFullMatch:output:0", "Const:output:0", "Const_1:output:0"}, map[string]*avpb.AttrValue{"T": AttrType(tensor.String)}),
		w.node("StringJoin", "StringJoin", []string{"file_prefix", "Select:output:0"}, map[string]*avpb.AttrValue{"N": AttrInt(2)}),
	)
	err := errors.Join(
		add(w.constNode("num_shards", int32Scalar(1), false)),
		add(w.constNode("ShardedFilename/shard", int32Scalar(0), false)),
	)
	if err != nil {
		return nil, err
	}
	nodes = append(nodes, w.node("ShardedFilename", "ShardedFilename", []string{"StringJoin:output:0", "ShardedFilename/shard:output:0", "num_shards:output:0"}, nil))
	err = errors.Join(
		add(w.constNode("SaveV2/tensor_names", stringVec(names), false)),
		add(w.constNode("SaveV2/shape_and_slices", stringVec(slices), false)),
	)
	if err != nil {
		return nil, err
	}
	nodes = append(nodes,
		w.node("SaveV2", "SaveV2", append([]string{"ShardedFilename:filename:0", "SaveV2/tensor_names:output:0", "SaveV2/shape_and_slices:output:0"}, values...), map[string]*avpb.AttrValue{"dtypes": AttrTypes(dts...)}),
		w.node("MergeV2Checkpoints/checkpoint_prefixes", "Pack", []string{"ShardedFilename:filename:0", "^SaveV2"}, map[string]*avpb.AttrValue{"N": AttrInt(1), "T": AttrType(tensor.String)}),
		w.node("MergeV2Checkpoints", "MergeV2Checkpoints", []string{"MergeV2Checkpoints/checkpoint_prefixes:output:0", "file_prefix"}, nil),
		w.node("Identity", "Identity", []string{"file_prefix", "^MergeV2Checkpoints"}, map[string]*avpb.AttrValue{"T": AttrType(tensor.String)}),
		w.node("Identity_1", "Identity", []string{"Identity:output:0", "^NoOp"}, map[string]*avpb.AttrValue{"T": AttrType(tensor.String)}),
		w.node("NoOp", "NoOp", []string{"^MergeV2Checkpoints"}, map[string]*avpb.AttrValue{"_acd_function_control_output": AttrBool(true)}),
	)
	return funcDef(fnTracedSave, in, []*opb.OpDef_ArgDef{argDef("identity_1", tensor.String)}, shapes, nodes,
		map[string]string{"identity_1": "Identity_1:output:0"}, []string{"MergeV2Checkpoints"}), nil
}

func (w *modelWriter) restoreFunc() (*fpb.FunctionDef, error) {
	s := w.s
	in := []*opb.OpDef_ArgDef{argDef("file_prefix", tensor.String)}
	shapes := [][]int64{{}}
	names, slices := w.ckptNames()
	var dts []tensor.DType
	for _, v := range s.Variables {
		dts = append(dts, v.Value.DType)
	}
	dts = append(dts, tensor.String)
	var nodes []*ndpb.NodeDef
	for _, p := range []struct {
		name string
		v    []string
	}{{"RestoreV2/tensor_names", names}, {"RestoreV2/shape_and_slices", slices}} {
		c, err := w.constNode(p.name, stringVec(p.v), false)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, c)
	}
	nodes = append(nodes, w.node("RestoreV2", "RestoreV2", []string{"file_prefix", "RestoreV2/tensor_names:output:0", "RestoreV2/shape_and_slices:output:0"}, map[string]*avpb.AttrValue{"dtypes": AttrTypes(dts...)}))
	suffix := func(i int) string {
		if i == 0 {
			return ""
		}
		return fmt.Sprintf("_%d", i)
	}
	var assigns []string
	var ctl []string
	for i, v := range s.Variables {
		a := fmt.Sprintf("assignvariableop%s_%s", suffix(i), argName(v.FullName()))
		in = append(in, argDef(a, resource))
		shapes = append(shapes, nil)
		id, av := "Identity"+suffix(i), "AssignVariableOp"+suffix(i)
		nodes = append(nodes,
			w.node(id, "Identity", []string{fmt.Sprintf("RestoreV2:tensors:%d", i)}, map[string]*avpb.AttrValue{"T": AttrType(v.Value.DType)}),
			w.node(av, "AssignVariableOp", []string{a, id + ":output:0"}, map[string]*avpb.AttrValue{"dtype": AttrType(v.Value.DType)}),
		)
		assigns = append(assigns, "^"+av)
		ctl = append(ctl, av)
	}
	n := len(s.Variables)
	last, final := "Identity"+suffix(n), "Identity"+suffix(n+1)
	nodes = append(nodes,
		w.node("NoOp", "NoOp", nil, nil),
		w.node(last, "Identity", append(append([]string{"file_prefix"}, assigns...), "^NoOp"), map[string]*avpb.AttrValue{"T": AttrType(tensor.String)}),
		w.node(final, "Identity", []string{last + ":output:0", "^NoOp_1"}, map[string]*avpb.AttrValue{"T": AttrType(tensor.String)}),
		w.node("NoOp_1", "NoOp", assigns, map[string]*avpb.AttrValue{"_acd_function_control_output": AttrBool(true)}),
	)
	out := strings.ToLower(final)
	return funcDef(fnTracedRest, in, []*opb.OpDef_ArgDef{argDef(out, tensor.String)}, shapes, nodes,
		map[string]string{out: final + ":output:0"}, ctl), nil
}
