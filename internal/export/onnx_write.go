package export

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/base/buildinfo"
	"github.com/graft-ml/graft/internal/util/atomicfile"
)

// Metadata keys of an ONNX export (metadata_props).
const (
	MetaClasses    = "graft.classes" // JSON array of the class names, in output order
	MetaRun        = "graft.run"
	MetaTap        = "graft.tap"
	MetaPreprocess = "graft.preprocess"
	MetaBackbone   = "graft.backbone"
)

// onnxWriter wraps the output file's writer; tests replace it to fill
// the disk.
var onnxWriter = func(w io.Writer) io.Writer { return w }

func writeONNX(r *loaded, out string, o Options) error {
	b, err := buildONNX(r, o.StaticBatch)
	if err != nil {
		return fmt.Errorf("export: %s: %w", r.dir, err)
	}
	// Temporary file beside out, renamed at the end: a failure leaves
	// neither a partial model nor a stray temporary.
	return atomicfile.Write(out, 0o644, func(w io.Writer) error {
		if _, err := onnxWriter(w).Write(b); err != nil {
			return fmt.Errorf("export: %s: %w", out, err)
		}
		return nil
	})
}

// buildONNX lays out the whole model: images (NHWC, 0..255) -> one
// Transpose to NCHW -> preprocessing -> backbone -> head -> softmax, and
// the top-1 class index.
func buildONNX(r *loaded, staticBatch int) ([]byte, error) {
	hs := r.head.Spec
	if len(r.classes) != hs.Classes {
		return nil, fmt.Errorf("%w: %d class names for a head of %d classes", ErrRun, len(r.classes), hs.Classes)
	}
	p := r.p
	shape := p.Input.Shape
	h, w, ch := shape[1], shape[2], shape[3]
	if h < 1 || w < 1 || (ch != 1 && ch != 3) || p.Input.DType != tensor.Float32 {
		return nil, fmt.Errorf("%w: the backbone's input %q is %s %v; export needs float32 images of a fixed size with 1 or 3 channels", ErrRun, p.Input.Name, p.Input.DType, shape)
	}
	st, err := native.StaticValues(p.Graph, map[string][]int{p.Graph.Inputs[0]: {-1, h, w, ch}})
	if err != nil {
		return nil, err
	}
	classes, err := json.Marshal(r.classes)
	if err != nil {
		return nil, err
	}
	m := &onnxModel{graph: "graft_export", producer: "graft " + buildinfo.Version,
		metadata: [][2]string{
			{MetaClasses, string(classes)}, {MetaRun, filepath.Base(filepath.Clean(r.dir))}, {MetaTap, r.cfg.Tap},
			{MetaPreprocess, r.cfg.Preprocess}, {MetaBackbone, filepath.Base(filepath.Clean(r.cfg.Backbone))},
		}}
	batch := int64(-1)
	if staticBatch > 0 {
		batch = int64(staticBatch)
	}
	m.inputs = []onnxValue{{name: InImages, elem: onnxFloat, dims: []int64{batch, int64(h), int64(w), int64(ch)}, param: "batch"}}
	c := newConverter(m, st)
	c.used[InImages] = true
	x := c.node("Transpose", []string{InImages}, intsAttr("perm", permToNCHW...))
	x = c.preprocessONNX(x, r.cfg.Preprocess, ch)
	if err := c.convertGraph(p.Graph, x); err != nil {
		return nil, err
	}
	tap, ok := c.vals[normRef(p.Graph.Outputs[0])]
	if !ok {
		return nil, fmt.Errorf("%w: the tap %s was not converted", ErrONNXOp, p.Graph.Outputs[0])
	}
	if len(tap.shape) != 4 || tap.konst != nil {
		return nil, fmt.Errorf("%w: the tap %s is %v; the head reads NHWC features", ErrRun, p.Graph.Outputs[0], tap.shape)
	}
	feat, err := c.data(tap, true)
	if err != nil {
		return nil, err
	}
	probs, err := c.headONNX(feat, hs, r.head.Layout(), r.params)
	if err != nil {
		return nil, err
	}
	m.nodes = append(m.nodes,
		&onnxNode{name: "graft/head/probabilities", op: "Identity", in: []string{probs}, out: []string{OutProbs}},
		&onnxNode{name: "graft/head/classes", op: "ArgMax", in: []string{probs}, out: []string{OutClasses}, attrs: []onnxAttr{intAttr("axis", 1), intAttr("keepdims", 0)}})
	m.outputs = []onnxValue{
		{name: OutProbs, elem: onnxFloat, dims: []int64{batch, int64(hs.Classes)}, param: "batch"},
		{name: OutClasses, elem: onnxInt64, dims: []int64{batch}, param: "batch"},
	}
	return m.encode(), nil
}
