package export

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/export/tflite"
	"github.com/graft-ml/graft/internal/util/atomicfile"
)

// LabelsMetadata names the Model.metadata entry of a TFLite export that
// holds the class names, one a line, in the order of the probabilities.
const LabelsMetadata = "labels.txt"

// outFile checks that the folder of a one-file export exists.
func outFile(out string) error {
	if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
		return hint.With(fmt.Errorf("export: the folder of %s does not exist", out), "create it first")
	}
	return nil
}

// writeTFLite writes the loaded run as one TFLite model file out:
// preprocessing, the backbone cut at the tap, the head, softmax and the
// top-1 class index. The file appears complete or not at all.
func writeTFLite(r *loaded, out string, o Options) error {
	runDir := r.dir
	g, err := wholeGraph(r)
	if err != nil {
		return fmt.Errorf("export: %s: %w", runDir, err)
	}
	b, err := tflite.Convert(g, tflite.Options{
		Inputs:      []tflite.Port{{Ref: g.Inputs[0], Name: InImages}},
		Outputs:     []tflite.Port{{Ref: g.Outputs[0], Name: OutProbs}},
		Top1:        OutClasses,
		InputShapes: map[string][]int{g.Inputs[0]: {-1, r.p.Input.Shape[1], r.p.Input.Shape[2], r.p.Input.Shape[3]}},
		Metadata:    []tflite.Metadata{{Name: LabelsMetadata, Data: []byte(strings.Join(r.classes, "\n") + "\n")}},
		Description: fmt.Sprintf("graft export of %s: %s cut at %s, preprocessing %s, %s head", filepath.Base(runDir), filepath.Base(r.cfg.Backbone), r.cfg.Tap, r.cfg.Preprocess, r.head.Spec.Kind),
		Float16:     o.Quantize == QuantizeFloat16,
	})
	if err != nil {
		return hint.With(fmt.Errorf("export: %s: %w", runDir, err), "export --format savedmodel writes any graph graft runs")
	}
	if err := atomicfile.Write(out, 0o644, func(w io.Writer) error { return writeModel(w, b) }); err != nil {
		return hint.With(fmt.Errorf("export: writing %s: %w (nothing was written)", out, err), "free space on its disk, or give --out on another")
	}
	return nil
}

// writeModel writes the file's bytes (tests make the disk full).
var writeModel = func(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}

// inputNode is the placeholder of the whole graph (a name no Keras layer
// takes).
const inputNode = "graft/images"

// wholeGraph is the export as one flat graph: a float32 0..255 image
// placeholder, the run's preprocessing, the backbone's flat graph (its
// input placeholder now an Identity of the preprocessing), and the head
// with its parameters as constants. Its output is the probabilities (the
// native engine, which reads the graph, has no ArgMax).
func wholeGraph(r *loaded) (*savedmodel.Graph, error) {
	p := r.p
	h, w, c, err := imageInput(p, r.head.Spec, r.classes)
	if err != nil {
		return nil, err
	}
	var b nodes
	b.add(inputNode, "Placeholder", nil, map[string]*avpb.AttrValue{
		"dtype": savedmodel.AttrType(tensor.Float32), "shape": savedmodel.AttrShape([]int64{-1, int64(h), int64(w), int64(c)}),
	})
	b.preprocess(inputNode, r.cfg.Preprocess, c)
	first := len(b.list) // the backbone's nodes, as they are, from here
	for _, n := range p.Graph.Nodes {
		if n.Name == p.Graph.Inputs[0] {
			n = &ndpb.NodeDef{Name: n.Name, Op: "Identity", Input: []string{preprocessOut}, Attr: f32()}
		}
		b.list = append(b.list, n)
	}
	lay := r.head.Layout()
	weight := func(name string) string {
		for _, t := range lay.Tensors {
			if t.Name == name {
				v := tensor.New(tensor.Float32, t.Shape...)
				copy(v.F32, r.params[t.Offset:t.Offset+t.Size])
				return b.constant("graft/head/"+name, v)
			}
		}
		if b.err == nil {
			b.err = fmt.Errorf("%w: the head has no tensor %q", ErrRun, name)
		}
		return ""
	}
	probs, _ := b.head(p.Graph.Outputs[0], r.head.Spec, weight)
	b.list = b.list[:len(b.list)-2] // ArgMax and its axis: tflite.Options.Top1 writes it
	if b.err != nil {
		return nil, b.err
	}
	// The builder's refs are function-body refs ("node:output:0"); every
	// op it adds has one output argument, so "node:0" in a flat graph.
	flat := func(r string) string {
		if p := strings.Split(r, ":"); len(p) == 3 {
			return p[0] + ":" + p[2]
		}
		return r
	}
	for k, n := range b.list {
		if k >= first && k < first+len(p.Graph.Nodes) {
			continue
		}
		for i := range n.Input {
			n.Input[i] = flat(n.Input[i])
		}
	}
	g := &savedmodel.Graph{Nodes: b.list, Consts: map[string]*tensor.Tensor{}, Inputs: []string{inputNode}, Outputs: []string{flat(probs)}}
	for k, v := range p.Graph.Consts {
		g.Consts[k] = v
	}
	for _, n := range b.list {
		if _, ok := g.Consts[n.Name]; ok || n.Op != "Const" {
			continue
		}
		v, err := savedmodel.TensorFromProto(n.Attr["value"].GetTensor())
		if err != nil {
			return nil, fmt.Errorf("constant %s: %w", n.Name, err)
		}
		g.Consts[n.Name] = v
	}
	return g, nil
}
