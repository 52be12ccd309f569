// Package inspect describes a SavedModel for `graft inspect` and the
// daemon's /v1/backbones:inspect: signatures, TensorFlow version,
// variables, the op histogram, the ops the native engine lacks and, on
// request, every tappable tensor with its static shape.
package inspect

import (
	"fmt"
	"sort"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/internal/confine"
)

// Report is what graft knows about a SavedModel.
type Report struct {
	Path          string      `json:"path"`
	Tags          []string    `json:"tags"`
	TFVersion     string      `json:"tensorflow_version,omitempty"`
	Signatures    []Signature `json:"signatures"`
	Variables     int         `json:"variables"`
	VariableBytes int64       `json:"variable_bytes"`
	// Ops is the histogram of the ops the signatures run (functions
	// inlined, save/restore machinery pruned).
	Ops         []OpCount `json:"ops"`
	Unsupported []string  `json:"unsupported_ops"`
	Tensors     []Tensor  `json:"tensors,omitempty"`
	// TensorsNote says why tensor shapes are missing, when they are.
	TensorsNote string `json:"tensors_note,omitempty"`
}

// Signature is one SignatureDef.
type Signature struct {
	Key     string   `json:"key"`
	Method  string   `json:"method,omitempty"`
	Inputs  []Tensor `json:"inputs"`
	Outputs []Tensor `json:"outputs"`
	// Error says why the signature's graph cannot be built, if it cannot.
	Error string `json:"error,omitempty"`
}

// Tensor is a named tensor: a signature input/output (Key set) or a
// tappable intermediate (Op set). Shape has -1 for unknown dims and is nil
// when unknown altogether.
type Tensor struct {
	Key   string `json:"key,omitempty"`
	Name  string `json:"name"`
	Op    string `json:"op,omitempty"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

// OpCount is one row of the op histogram.
type OpCount struct {
	Op        string `json:"op"`
	Count     int    `json:"count"`
	Supported bool   `json:"supported"`
}

// Inspect loads the model in dir with the given tags; with tensors set it
// lists the tappable tensors of signature (default serving_default).
func Inspect(dir string, tags []string, tensors bool, signature string) (*Report, error) {
	return InspectIn(nil, dir, tags, tensors, signature)
}

// InspectIn is Inspect with the model's files opened inside roots.
func InspectIn(roots *confine.Roots, dir string, tags []string, tensors bool, signature string) (*Report, error) {
	m, err := savedmodel.LoadIn(roots, dir, tags...)
	if err != nil {
		return nil, err
	}
	r := &Report{Path: dir, Tags: m.Tags, TFVersion: m.TFVersion, Variables: len(m.Variables), Unsupported: []string{}}
	for _, v := range m.Variables {
		n := int64(v.DType.Size())
		for _, d := range v.Shape {
			n *= max(d, 0)
		}
		r.VariableBytes += n
	}
	hist := map[string]int{}
	for _, k := range m.SignatureKeys() {
		s := m.Signatures[k]
		sig := Signature{Key: k, Method: s.Method, Inputs: infos(s.Inputs), Outputs: infos(s.Outputs)}
		if g, err := m.FlattenSignature(k); err != nil {
			sig.Error = err.Error()
		} else {
			for _, n := range g.Nodes {
				hist[n.Op]++
			}
		}
		r.Signatures = append(r.Signatures, sig)
	}
	for op, n := range hist {
		ok := native.Supported(op)
		r.Ops = append(r.Ops, OpCount{Op: op, Count: n, Supported: ok})
		if !ok {
			r.Unsupported = append(r.Unsupported, op)
		}
	}
	sort.Slice(r.Ops, func(i, j int) bool {
		if r.Ops[i].Count != r.Ops[j].Count {
			return r.Ops[i].Count > r.Ops[j].Count
		}
		return r.Ops[i].Op < r.Ops[j].Op
	})
	sort.Strings(r.Unsupported)
	if tensors {
		if err := listTensors(m, signature, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func infos(ts []savedmodel.TensorInfo) []Tensor {
	out := make([]Tensor, 0, len(ts))
	for _, t := range ts {
		var shape []int
		for _, d := range t.Shape {
			shape = append(shape, int(d))
		}
		out = append(out, Tensor{Key: t.Key, Name: t.Name, DType: t.DType.String(), Shape: shape})
	}
	return out
}

// listTensors lists the signature's tensors and, when the native engine
// can run its graph, their static shapes.
func listTensors(m *savedmodel.Model, signature string, r *Report) error {
	descs, err := m.Tensors(signature)
	if err != nil {
		return err
	}
	shapes := map[string][]int{}
	g, err := m.FlattenSignature(signature)
	if err == nil {
		shapes, err = native.InferShapes(g, nil)
	}
	if err != nil {
		r.TensorsNote = fmt.Sprintf("static shapes unavailable: %v", err)
	}
	for _, d := range descs {
		r.Tensors = append(r.Tensors, Tensor{Name: d.Name, Op: d.Op, DType: d.DType.String(), Shape: shapes[d.Name]})
	}
	return nil
}
