package native

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// ErrInput reports a model whose inputs graft cannot feed.
var ErrInput = errors.New("native: unusable model input")

// Options choose what of a SavedModel a Backbone runs.
type Options struct {
	// Tags select the meta graph (default "serve").
	Tags []string
	// Signature is the signature key (default "serving_default").
	Signature string
	// Tap names the intermediate tensor to stop at: "node:i", a node
	// inside a function, or a Keras layer name. Empty: the signature
	// output named by Output.
	Tap string
	// Output is a signature output key; empty means the only output.
	Output string
	// Roots confine the model's files (graft serve's --allow-root; graft
	// passes its internal/base/confine roots). Nil reads what the path names
	// (regular files).
	Roots savedmodel.Files
	// Model, when set, is the SavedModel at the path, loaded already
	// with Tags (a run reads it once for its preprocessing and its
	// engine); Prepare uses it instead of reading the path again.
	Model *savedmodel.Model
}

// Backbone runs a SavedModel, cut at a tap or a signature output, on the
// native engine. It implements backbone.Backbone.
type Backbone struct {
	model  *savedmodel.Model
	engine *Engine
	graph  *savedmodel.Graph
	input  backbone.TensorSpec
	tap    backbone.TensorSpec
}

var _ backbone.Backbone = (*Backbone)(nil)

// Open loads the SavedModel in dir and prepares the flat graph from its
// signature's image input to the tap (or output).
func Open(dir string, o Options) (*Backbone, error) {
	p, err := Prepare(dir, o)
	if err != nil {
		return nil, err
	}
	e, err := New(p.Graph)
	if err != nil {
		return nil, fmt.Errorf("native: model %s: %w", dir, err)
	}
	shape, err := p.TapShape()
	if err != nil {
		return nil, err
	}
	return &Backbone{
		model: p.Model, engine: e, graph: p.Graph, input: p.Input,
		tap: backbone.TensorSpec{Name: p.Graph.Outputs[0], DType: tensor.Float32, Shape: shape},
	}, nil
}

// Prepared is a SavedModel cut at a tap, before any engine is built: the
// flat graph from the signature's image input to the tap, which every
// engine runs (the TensorFlow engine imports it as a GraphDef), so that
// graph surgery is written once.
type Prepared struct {
	Model *savedmodel.Model
	// Graph has exactly one input (Graph.Inputs[0], the image) and one
	// output (Graph.Outputs[0], the tap).
	Graph *savedmodel.Graph
	// Input is the signature's image input, rank 4 (NHWC), -1 for
	// unknown dims.
	Input backbone.TensorSpec
}

// Prepare loads the SavedModel in dir, resolves the tap (or output) of
// o's signature and flattens the graph from the image input to it.
func Prepare(dir string, o Options) (*Prepared, error) {
	m := o.Model
	if m == nil {
		var err error
		if m, err = savedmodel.LoadIn(o.Roots, dir, o.Tags...); err != nil {
			return nil, err
		}
	}
	sig, err := m.Signature(o.Signature)
	if err != nil {
		return nil, err
	}
	if len(sig.Inputs) != 1 {
		return nil, fmt.Errorf("%w: signature %q of %s has %d inputs (%s); graft feeds one image tensor", ErrInput, sig.Key, dir, len(sig.Inputs), infoKeys(sig.Inputs))
	}
	in := sig.Inputs[0]
	fetch, err := fetchName(m, sig, o)
	if err != nil {
		return nil, err
	}
	g, err := m.Flatten([]string{fetch}, in.Name)
	if err != nil {
		return nil, err
	}
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("%w: the graph from %s to %s reads %d inputs", ErrInput, in.Name, fetch, len(g.Inputs))
	}
	inShape := make([]int, len(in.Shape))
	for i, d := range in.Shape {
		inShape[i] = int(d)
	}
	if len(inShape) != 4 {
		return nil, fmt.Errorf("%w: input %q of %s has shape %v; graft feeds NHWC images (rank 4)", ErrInput, in.Key, dir, in.Shape)
	}
	return &Prepared{Model: m, Graph: g, Input: backbone.TensorSpec{Name: in.Key, DType: in.DType, Shape: inShape}}, nil
}

// TapShape is the tap's static shape (-1 for dims that depend on the
// batch), from the native engine's shape functions.
func (p *Prepared) TapShape() ([]int, error) {
	g := p.Graph
	shapes, err := InferShapes(g, map[string][]int{g.Inputs[0]: p.Input.Shape})
	if err != nil {
		return nil, fmt.Errorf("native: model %s: %w", p.Model.Dir, err)
	}
	return shapes[g.Outputs[0]], nil
}

// fetchName picks the tensor the backbone stops at.
func fetchName(m *savedmodel.Model, sig *savedmodel.Signature, o Options) (string, error) {
	switch {
	case o.Tap != "" && o.Output != "":
		return "", fmt.Errorf("native: give a tap or an output, not both")
	case o.Tap != "":
		return m.ResolveTensor(sig.Key, o.Tap)
	}
	for _, out := range sig.Outputs {
		if out.Key == o.Output || (o.Output == "" && len(sig.Outputs) == 1) {
			return out.Name, nil
		}
	}
	if o.Output == "" {
		return "", fmt.Errorf("native: signature %q has outputs %s: choose one", sig.Key, infoKeys(sig.Outputs))
	}
	return "", fmt.Errorf("native: signature %q has no output %q; it has %s", sig.Key, o.Output, infoKeys(sig.Outputs))
}

func infoKeys(ts []savedmodel.TensorInfo) string {
	keys := make([]string, len(ts))
	for i, t := range ts {
		keys[i] = t.Key
	}
	return strings.Join(keys, ", ")
}

// Input implements backbone.Backbone.
func (b *Backbone) Input() backbone.TensorSpec { return b.input }

// Tap implements backbone.Backbone.
func (b *Backbone) Tap() backbone.TensorSpec { return b.tap }

// Model is the loaded SavedModel.
func (b *Backbone) Model() *savedmodel.Model { return b.model }

// Graph is the flat graph the backbone runs.
func (b *Backbone) Graph() *savedmodel.Graph { return b.graph }

// Features implements backbone.Backbone.
func (b *Backbone) Features(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error) {
	out, err := b.engine.Run(ctx, map[string]*tensor.Tensor{b.graph.Inputs[0]: batch})
	if err != nil {
		return nil, err
	}
	return out[b.graph.Outputs[0]], nil
}

// Close implements backbone.Backbone; the native engine holds no resources.
func (b *Backbone) Close() error { return nil }

// Profile is Features that also times every node (for graft bench).
func (b *Backbone) Profile(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, []NodeRun, error) {
	out, prof, err := b.engine.Profile(ctx, map[string]*tensor.Tensor{b.graph.Inputs[0]: batch})
	if err != nil {
		return nil, nil, err
	}
	return out[b.graph.Outputs[0]], prof, nil
}
