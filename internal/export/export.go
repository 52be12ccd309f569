package export

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	fpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/function_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	opb "github.com/galeone/tensorflow/tensorflow/go/core/framework/op_def_go_proto"

	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/confine"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// Signature keys and tensor names of an exported model.
const (
	SigImages     = "serving_default"
	SigBytes      = "serving_bytes"
	InImages      = "images"
	InBytes       = "image_bytes"
	OutProbs      = "probabilities"
	OutClasses    = "classes"
	exportedModel = "graft_export"
)

// ErrRun reports a run that cannot be exported as it is.
var ErrRun = errors.New("export: run cannot be exported")

// Output formats of Write.
const (
	FormatSavedModel = "savedmodel"
	FormatONNX       = "onnx"
	FormatTFLite     = "tflite"
)

// Formats lists the formats Write accepts, the default first.
var Formats = []string{FormatSavedModel, FormatONNX, FormatTFLite}

// Options are how Write writes.
type Options struct {
	// Format is FormatSavedModel ("" too), FormatONNX or FormatTFLite.
	Format string
	// Force replaces an existing output file (ONNX and TFLite; a
	// SavedModel folder is never replaced).
	Force bool
	// StaticBatch fixes the ONNX model's batch size (0: dynamic).
	StaticBatch int
	// Quantize is the TFLite weights' type: "" (float32) or "float16"
	// (TFLite's float16 post-training scheme: DEQUANTIZE ops in front).
	Quantize string
}

// QuantizeFloat16 is Options.Quantize's one value.
const QuantizeFloat16 = "float16"

// Run writes the trained run in runDir as a SavedModel folder out, which
// must not exist. The folder appears complete or not at all.
func Run(runDir, out string) error { return Write(runDir, out, Options{}) }

// Write writes the trained run in runDir in o.Format at out. The output
// appears complete or not at all.
func Write(runDir, out string, o Options) error {
	switch o.Format {
	case "", FormatSavedModel:
		if o.Quantize != "" {
			return hint.With(fmt.Errorf("export: --quantize is for TFLite"), "drop --quantize, or add --format tflite")
		}
		if o.StaticBatch != 0 {
			return hint.With(fmt.Errorf("export: a static batch size is for ONNX"), "drop --onnx-static-batch, or add --format onnx")
		}
		if _, err := os.Stat(out); err == nil {
			return hint.With(fmt.Errorf("export: %s: %w", out, os.ErrExist), "give --out a folder that does not exist yet, or remove the old export")
		}
	case FormatONNX, FormatTFLite:
		if o.StaticBatch < 0 || (o.StaticBatch != 0 && o.Format != FormatONNX) {
			return hint.With(fmt.Errorf("export: static batch size %d is for ONNX", o.StaticBatch), "give a positive size with --format onnx, or 0 for a dynamic batch")
		}
		if o.Quantize != "" && (o.Format != FormatTFLite || o.Quantize != QuantizeFloat16) {
			return hint.With(fmt.Errorf("export: --quantize %q: TFLite takes float16", o.Quantize), "give --quantize float16 with --format tflite, or drop it")
		}
		if err := outFile(out); err != nil {
			return err
		}
		if st, err := os.Stat(out); err == nil && (!o.Force || st.IsDir()) {
			advice := "give --out a file that does not exist yet, or --force to replace it"
			if st.IsDir() {
				advice = "give --out a file name (model." + o.Format + "), not a folder: --force replaces files only"
			}
			return hint.With(fmt.Errorf("export: %s: %w", out, os.ErrExist), "%s", advice)
		}
	default:
		return hint.With(fmt.Errorf("export: format %q: graft writes %s", o.Format, strings.Join(Formats, ", ")), "give --format %s", strings.Join(Formats, " or --format "))
	}
	r, err := load(runDir)
	if err != nil {
		return err
	}
	defer r.head.Close()
	switch o.Format {
	case FormatONNX:
		return writeONNX(r, out, o)
	case FormatTFLite:
		return writeTFLite(r, out, o)
	}
	spec, err := build(r.p, r.cfg.Preprocess, r.head.Spec, r.head.Layout(), r.params, r.classes)
	if err != nil {
		return fmt.Errorf("export: %s: %w", runDir, err)
	}
	return savedmodel.Write(out, spec)
}

// loaded is a finished run as every format exports it.
type loaded struct {
	dir     string
	cfg     train.Config
	classes []string
	head    *head.Model
	params  []float32
	p       *native.Prepared
}

// load reads a finished run: its config, classes, head and the backbone
// cut at its tap, checking the backbone is the one it was trained on.
func load(runDir string) (*loaded, error) {
	r := &loaded{dir: runDir}
	if err := rundir.ReadJSON(runDir, rundir.ConfigFile, &r.cfg); err != nil {
		return nil, err
	}
	if err := rundir.ReadJSON(runDir, rundir.ClassesFile, &r.classes); err != nil {
		return nil, err
	}
	var sum train.Summary
	if err := rundir.ReadJSON(runDir, rundir.SummaryFile, &sum); err != nil {
		return nil, hint.With(fmt.Errorf("%w: %s has not finished (%w)", ErrRun, runDir, err), "finish it first: graft train --resume %s", runDir)
	}
	// A run made by the daemon reads its backbone inside the roots it
	// was confined to; so does its export.
	roots, err := confine.New(r.cfg.AllowRoots)
	if err != nil {
		return nil, err
	}
	// The export copies the backbone as it is now; the head was trained
	// on the backbone as it was.
	if sum.BackboneDigest != "" {
		d, err := savedmodel.DigestDirIn(roots, r.cfg.Backbone)
		if err != nil {
			return nil, fmt.Errorf("export: backbone of %s: %w", runDir, err)
		}
		if d != sum.BackboneDigest {
			return nil, hint.With(fmt.Errorf("%w: the backbone %s changed since %s was trained (content digest %s, the run recorded %s)", ErrRun, r.cfg.Backbone, runDir, short(d), short(sum.BackboneDigest)),
				"restore the backbone the run was trained on, or train again on this one")
		}
	}
	m, _, err := head.Load(head.NewCPUOps(), filepath.Join(runDir, rundir.HeadFile))
	if err != nil {
		return nil, hint.With(fmt.Errorf("%w: %s: %w", ErrRun, runDir, err), "finish it first: graft train --resume %s", runDir)
	}
	r.head = m
	fail := func(err error) (*loaded, error) { m.Close(); return nil, err }
	if r.params, err = m.Params(); err != nil {
		return fail(err)
	}
	if images.CheckMode(r.cfg.Preprocess) != nil {
		return fail(fmt.Errorf("%w: %s records preprocessing %q, not a resolved mode", ErrRun, runDir, r.cfg.Preprocess))
	}
	if r.p, err = native.Prepare(r.cfg.Backbone, native.Options{Tags: r.cfg.Tags, Signature: r.cfg.Signature, Tap: r.cfg.Tap, Roots: roots}); err != nil {
		return fail(fmt.Errorf("export: backbone of %s: %w", runDir, err))
	}
	return r, nil
}

func short(d string) string { return d[:min(len(d), 12)] }

// nodes builds function-body nodes and remembers the first error.
type nodes struct {
	list []*ndpb.NodeDef
	err  error
}

func (b *nodes) add(name, op string, in []string, attr map[string]*avpb.AttrValue) string {
	if attr == nil {
		attr = map[string]*avpb.AttrValue{}
	}
	b.list = append(b.list, &ndpb.NodeDef{Name: name, Op: op, Input: in, Attr: attr})
	ref, err := savedmodel.OutputRef(name, op)
	if err != nil && b.err == nil {
		b.err = err
	}
	return ref
}

func (b *nodes) constant(name string, t *tensor.Tensor) string {
	v, err := savedmodel.AttrTensor(t)
	if err != nil && b.err == nil {
		b.err = err
	}
	return b.add(name, "Const", nil, map[string]*avpb.AttrValue{"dtype": savedmodel.AttrType(t.DType), "value": v})
}

func (b *nodes) floats(name string, v ...float32) string {
	t := tensor.New(tensor.Float32, len(v))
	if len(v) == 1 {
		t = tensor.New(tensor.Float32)
	}
	copy(t.F32, v)
	return b.constant(name, t)
}

func (b *nodes) ints(name string, v ...int32) string {
	t := tensor.New(tensor.Int32, len(v))
	copy(t.I32, v)
	return b.constant(name, t)
}

func (b *nodes) scalar(name string, v int32) string {
	t := tensor.New(tensor.Int32)
	t.I32[0] = v
	return b.constant(name, t)
}

func f32() map[string]*avpb.AttrValue {
	return map[string]*avpb.AttrValue{"T": savedmodel.AttrType(tensor.Float32)}
}

// ImageNet statistics of the Keras applications (internal/data/images uses the
// same), RGB order; gray inputs take their mean.
var (
	torchMean = []float32{0.485, 0.456, 0.406}
	torchStd  = []float32{0.229, 0.224, 0.225}
	caffeMean = []float32{123.68, 116.779, 103.939}
)

func perChannel(v []float32, c int) []float32 {
	if c == 1 {
		return []float32{(v[0] + v[1] + v[2]) / 3}
	}
	return v
}

// preprocess adds the run's preprocessing of x (0..255, NHWC with c
// channels) as graft's images package computes it, operation for
// operation, and ends in the fixed node preprocessOut.
func (b *nodes) preprocess(x, mode string, c int) {
	const s = "graft/preprocess/"
	binop := func(op, name, a, y string) string { return b.add(s+name, op, []string{a, y}, f32()) }
	switch mode {
	case images.Unit:
		x = binop("RealDiv", "truediv", x, b.floats(s+"truediv/y", 255))
	case images.TF:
		x = binop("RealDiv", "truediv", x, b.floats(s+"truediv/y", 127.5))
		x = binop("Sub", "sub", x, b.floats(s+"sub/y", 1))
	case images.Torch:
		x = binop("RealDiv", "truediv", x, b.floats(s+"truediv/y", 255))
		x = binop("Sub", "sub", x, b.floats(s+"sub/y", perChannel(torchMean, c)...))
		x = binop("RealDiv", "truediv_1", x, b.floats(s+"truediv_1/y", perChannel(torchStd, c)...))
	case images.Caffe:
		x = binop("Sub", "sub", x, b.floats(s+"sub/y", perChannel(caffeMean, c)...))
		if c == 3 { // RGB -> BGR
			a := map[string]*avpb.AttrValue{"Tparams": savedmodel.AttrType(tensor.Float32), "Tindices": savedmodel.AttrType(tensor.Int32),
				"Taxis": savedmodel.AttrType(tensor.Int32), "batch_dims": savedmodel.AttrInt(0)}
			x = b.add(s+"bgr", "GatherV2", []string{x, b.ints(s+"bgr/indices", 2, 1, 0), b.scalar(s+"bgr/axis", 3)}, a)
		}
	}
	b.add(preprocessOut, "Identity", []string{x}, f32())
}

const (
	preprocessOut  = inspect.ExportPreprocessNode
	classNamesNode = "graft/head/class_names"
	tensorString   = tensor.String
)

// decode adds the decoding of one PNG/JPEG (a scalar string) to c
// channels, resized to h x w as graft's images package resizes, which is
// TensorFlow's antialiased bilinear resize (tf.image.resize(...,
// antialias=True): ScaleAndTranslate with a triangle kernel, scale = new
// size / old size). The result is [1, h, w, c].
func (b *nodes) decode(in string, h, w, c int) string {
	const s = "graft/decode/"
	i32, f32t := savedmodel.AttrType(tensor.Int32), savedmodel.AttrType(tensor.Float32)
	img := b.add(s+"DecodeImage", "DecodeImage", []string{in}, map[string]*avpb.AttrValue{
		"channels": savedmodel.AttrInt(int64(c)), "dtype": savedmodel.AttrType(tensor.Uint8), "expand_animations": savedmodel.AttrBool(false),
	})
	f := b.add(s+"Cast", "Cast", []string{img}, map[string]*avpb.AttrValue{
		"SrcT": savedmodel.AttrType(tensor.Uint8), "DstT": f32t, "Truncate": savedmodel.AttrBool(false),
	})
	shape := b.add(s+"Shape", "Shape", []string{f}, map[string]*avpb.AttrValue{"T": f32t, "out_type": i32})
	hw := b.add(s+"Slice", "Slice", []string{shape, b.ints(s+"Slice/begin", 0), b.ints(s+"Slice/size", 2)},
		map[string]*avpb.AttrValue{"T": i32, "Index": i32})
	hwf := b.add(s+"Cast_1", "Cast", []string{hw}, map[string]*avpb.AttrValue{"SrcT": i32, "DstT": f32t, "Truncate": savedmodel.AttrBool(false)})
	scale := b.add(s+"scale", "RealDiv", []string{b.floats(s+"scale/size", float32(h), float32(w)), hwf}, f32())
	batch := b.add(s+"ExpandDims", "ExpandDims", []string{f, b.scalar(s+"ExpandDims/dim", 0)},
		map[string]*avpb.AttrValue{"T": f32t, "Tdim": i32})
	return b.add(s+"ScaleAndTranslate", "ScaleAndTranslate",
		[]string{batch, b.ints(s+"size", int32(h), int32(w)), scale, b.floats(s+"translation", 0, 0)},
		map[string]*avpb.AttrValue{"T": f32t, "kernel_type": savedmodel.AttrString("triangle"), "antialias": savedmodel.AttrBool(true)})
}

// Names of the decoding loop's functions in the library.
const (
	fnDecodeCond = "graft_decode_images_cond"
	fnDecodeBody = "graft_decode_images_body"
)

func argDef(name string, dt tensor.DType) *opb.OpDef_ArgDef {
	return &opb.OpDef_ArgDef{Name: name, Type: savedmodel.AttrType(dt).GetType()}
}

// decodeAll adds a While loop over the batch of encoded images in (string
// [batch]) that decodes each (decode) and concatenates them into [batch,
// h, w, c]; it returns that ref and the loop's cond and body functions.
func (b *nodes) decodeAll(in string, h, w, c int) (string, []*fpb.FunctionDef, error) {
	loopVars := []*opb.OpDef_ArgDef{argDef("i", tensor.Int32), argDef("images", tensor.String), argDef("acc", tensor.Float32)}
	shapes := [][]int64{{}, {-1}, {-1, int64(h), int64(w), int64(c)}}

	var cb nodes
	size := cb.add("Size", "Size", []string{"images"}, map[string]*avpb.AttrValue{"T": savedmodel.AttrType(tensor.String), "out_type": savedmodel.AttrType(tensor.Int32)})
	less := cb.add("Less", "Less", []string{"i", size}, map[string]*avpb.AttrValue{"T": savedmodel.AttrType(tensor.Int32)})
	cond := &fpb.FunctionDef{
		Signature: &opb.OpDef{Name: fnDecodeCond, InputArg: loopVars, OutputArg: []*opb.OpDef_ArgDef{argDef("less", tensor.Bool)}},
		NodeDef:   cb.list, Ret: map[string]string{"less": less},
	}

	var bb nodes
	i32 := savedmodel.AttrType(tensor.Int32)
	next := bb.add("next", "AddV2", []string{"i", bb.scalar("one", 1)}, map[string]*avpb.AttrValue{"T": i32})
	one := bb.add("image", "GatherV2", []string{"images", "i", bb.scalar("image/axis", 0)}, map[string]*avpb.AttrValue{
		"Tparams": savedmodel.AttrType(tensor.String), "Tindices": i32, "Taxis": i32, "batch_dims": savedmodel.AttrInt(0)})
	img := bb.decode(one, h, w, c)
	acc := bb.add("concat", "ConcatV2", []string{"acc", img, bb.scalar("concat/axis", 0)}, map[string]*avpb.AttrValue{
		"N": savedmodel.AttrInt(2), "T": savedmodel.AttrType(tensor.Float32), "Tidx": i32})
	same := bb.add("images_out", "Identity", []string{"images"}, map[string]*avpb.AttrValue{"T": savedmodel.AttrType(tensor.String)})
	body := &fpb.FunctionDef{
		Signature: &opb.OpDef{Name: fnDecodeBody, InputArg: loopVars, OutputArg: []*opb.OpDef_ArgDef{
			argDef("i_out", tensor.Int32), argDef("images_out", tensor.String), argDef("acc_out", tensor.Float32)}},
		NodeDef: bb.list, Ret: map[string]string{"i_out": next, "images_out": same, "acc_out": acc},
	}
	if err := errors.Join(cb.err, bb.err); err != nil {
		return "", nil, err
	}

	const s = "graft/decode/"
	empty := b.constant(s+"empty", tensor.New(tensor.Float32, 0, h, w, c))
	b.add(s+"while", "While", []string{b.scalar(s+"start", 0), in, empty}, map[string]*avpb.AttrValue{
		"T":    savedmodel.AttrTypes(tensor.Int32, tensor.String, tensor.Float32),
		"cond": savedmodel.AttrFunc(fnDecodeCond), "body": savedmodel.AttrFunc(fnDecodeBody),
		"output_shapes": savedmodel.AttrShapes(shapes...), "parallel_iterations": savedmodel.AttrInt(10),
	})
	return s + "while:output:2", []*fpb.FunctionDef{cond, body}, nil // the third loop var, acc
}

// head adds the trained head on the features at x, its parameters read
// through weight, and returns the refs of the probabilities and of the
// top-1 class index.
func (b *nodes) head(x string, spec head.Spec, weight func(name string) string) (probs, top string) {
	if spec.Kind == head.KindConv {
		a := f32()
		a["padding"] = savedmodel.AttrString("SAME")
		a["strides"] = savedmodel.AttrInts(1, 1, 1, 1)
		x = b.add("graft/head/conv/Conv2D", "Conv2D", []string{x, weight(head.ConvKernel)}, a)
		x = b.add("graft/head/conv/BiasAdd", "BiasAdd", []string{x, weight(head.ConvBias)}, f32())
		x = b.add("graft/head/conv/Relu", "Relu", []string{x}, f32())
	}
	a := f32()
	a["Tidx"] = savedmodel.AttrType(tensor.Int32)
	x = b.add("graft/head/pool/Mean", "Mean", []string{x, b.ints("graft/head/pool/Mean/reduction_indices", 1, 2)}, a)
	x = b.add("graft/head/dense/MatMul", "MatMul", []string{x, weight(head.DenseKernel)}, f32())
	x = b.add("graft/head/dense/BiasAdd", "BiasAdd", []string{x, weight(head.DenseBias)}, f32())
	probs = b.add("graft/head/Softmax", "Softmax", []string{x}, f32())
	top = b.add("graft/head/ArgMax", "ArgMax", []string{probs, b.scalar("graft/head/ArgMax/dimension", 1)}, map[string]*avpb.AttrValue{
		"T": savedmodel.AttrType(tensor.Float32), "Tidx": savedmodel.AttrType(tensor.Int32), "output_type": savedmodel.AttrType(tensor.Int32),
	})
	return probs, top
}

// classNames adds the names of the classes at top.
func (b *nodes) classNames(top string, classes []string) string {
	return b.add("graft/head/classes", "GatherV2", []string{b.constant(classNamesNode, stringVec(classes)), top, b.scalar("graft/head/classes/axis", 0)},
		map[string]*avpb.AttrValue{"Tparams": savedmodel.AttrType(tensor.String), "Tindices": savedmodel.AttrType(tensor.Int32),
			"Taxis": savedmodel.AttrType(tensor.Int32), "batch_dims": savedmodel.AttrInt(0)})
}

func stringVec(ss []string) *tensor.Tensor {
	t := tensor.New(tensor.String, len(ss))
	for i, s := range ss {
		t.S[i] = []byte(s)
	}
	return t
}

// imageInput checks what every export format needs of the run and
// returns the backbone's image size.
func imageInput(p *native.Prepared, hs head.Spec, classes []string) (h, w, c int, err error) {
	if len(classes) != hs.Classes {
		return 0, 0, 0, fmt.Errorf("%w: %d class names for a head of %d classes", ErrRun, len(classes), hs.Classes)
	}
	shape := p.Input.Shape
	h, w, c = shape[1], shape[2], shape[3]
	if h < 1 || w < 1 || (c != 1 && c != 3) || p.Input.DType != tensor.Float32 {
		return 0, 0, 0, fmt.Errorf("%w: the backbone's input %q is %s %v; export needs float32 images of a fixed size with 1 or 3 channels", ErrRun, p.Input.Name, p.Input.DType, shape)
	}
	return h, w, c, nil
}

// build lays out the exported model: both signatures share the backbone's
// and the head's variables; each has its own copy of the graph.
func build(p *native.Prepared, mode string, hs head.Spec, lay head.Layout, params []float32, classes []string) (*savedmodel.WriteSpec, error) {
	h, w, c, err := imageInput(p, hs, classes)
	if err != nil {
		return nil, err
	}
	bb, err := p.Model.FunctionBody(p.Graph, preprocessOut+":output:0")
	if err != nil {
		return nil, err
	}
	spec := &savedmodel.WriteSpec{ModelName: exportedModel, OpDefs: bb.OpDefs, Variables: bb.Variables}
	headVars := map[string]string{}
	for _, t := range lay.Tensors {
		v := tensor.New(tensor.Float32, t.Shape...)
		copy(v.F32, params[t.Offset:t.Offset+t.Size])
		layer, name := filepath.Split(t.Name) // "conv/kernel" -> "conv/", "kernel"
		layer = "graft_head_" + layer[:len(layer)-1]
		arg := layer + "_" + name + "_resource"
		headVars[t.Name] = arg
		spec.Variables = append(spec.Variables, &savedmodel.WriteVariable{Layer: layer, Name: name, Arg: arg, Value: v})
	}
	in64 := []int64{-1, int64(h), int64(w), int64(c)}
	outs := func(probs, names string) []savedmodel.WriteOutput {
		return []savedmodel.WriteOutput{
			{Name: OutProbs, DType: tensor.Float32, Shape: []int64{-1, int64(hs.Classes)}, Ref: probs},
			{Name: OutClasses, DType: tensor.String, Shape: []int64{-1}, Ref: names},
		}
	}
	body := func(decoded bool) (*savedmodel.WriteSignature, error) {
		var b nodes
		sig := &savedmodel.WriteSignature{Key: SigImages, InputName: InImages, InputDType: tensor.Float32, InputShape: in64}
		x := InImages
		if decoded {
			sig.Key, sig.InputName, sig.InputDType, sig.InputShape = SigBytes, InBytes, tensor.String, []int64{-1}
			var fns []*fpb.FunctionDef
			var err error
			if x, fns, err = b.decodeAll(InBytes, h, w, c); err != nil {
				return nil, err
			}
			spec.Functions = append(spec.Functions, fns...)
		}
		b.preprocess(x, mode, c)
		b.list = append(b.list, bb.Nodes...)
		read := func(v string) string {
			return b.add("graft/head/"+v+"/ReadVariableOp", "ReadVariableOp", []string{headVars[v]}, map[string]*avpb.AttrValue{"dtype": savedmodel.AttrType(tensor.Float32)})
		}
		probs, top := b.head(bb.Outputs[0], hs, read)
		sig.Body, sig.Outputs = b.list, outs(probs, b.classNames(top, classes))
		return sig, b.err
	}
	for _, decoded := range []bool{false, true} {
		sig, err := body(decoded)
		if err != nil {
			return nil, err
		}
		spec.Signatures = append(spec.Signatures, sig)
	}
	return spec, nil
}
