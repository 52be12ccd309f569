package inspect

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
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
	// Normalization is the arithmetic the signature (the one --tensors
	// lists) applies to its image input, and the preprocessing that
	// --preprocess auto picks for it.
	Normalization *Normalization `json:"input_normalization,omitempty"`
	Preprocess    *Choice        `json:"preprocess_auto,omitempty"`
	// PreprocessStats are the distances auto compared, when graft
	// inspect --data gave images to read the batch-norm statistics with.
	PreprocessStats *api.PreprocessStats `json:"preprocess_stats,omitempty"`
	// Taps are the suggested taps: the last feature maps before the
	// graph pools them away, deepest first (SuggestTaps).
	Taps []Tap `json:"suggested_taps,omitempty"`
}

// Tap is a suggested tap: Name is what to pass to --tap (the layer when
// --tap LAYER gives exactly this tensor, else the tensor's name).
type Tap struct {
	Name   string `json:"name"`
	Tensor string `json:"tensor"`
	Shape  []int  `json:"shape"`
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

// Tensor is a named tensor: a signature input/output (Key set) or an
// intermediate (Op set). Shape has -1 for unknown dims and is nil when
// unknown altogether.
type Tensor struct {
	Key   string `json:"key,omitempty"`
	Name  string `json:"name"`
	Op    string `json:"op,omitempty"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	// Layer is the op's layer as --tap accepts it (--tap LAYER gives the
	// layer's last op).
	Layer string `json:"layer,omitempty"`
	// Tappable marks what a head can usefully read: float tensors computed
	// from the input, not weights (Const, variable reads), shape
	// arithmetic or empty batch-norm side outputs.
	Tappable bool `json:"tappable,omitempty"`
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
func InspectIn(roots savedmodel.Files, dir string, tags []string, tensors bool, signature string) (*Report, error) {
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
	if n, err := DetectModel(m, signature); err == nil {
		c := ChoosePreprocess(Auto, n, nil)
		r.Normalization, r.Preprocess = &n, &c
	}
	// The tensors' shapes are needed for the suggestions, listed or not.
	if err := listTensors(m, signature, r); err != nil {
		if tensors {
			return nil, err
		}
		r.TensorsNote = ""
		return r, nil
	}
	r.Taps = SuggestTaps(r.Tensors)
	for i, t := range r.Taps {
		if t.Name == t.Tensor {
			continue
		}
		// The layer gives its last op: suggest it only when that is this tensor.
		if got, err := m.ResolveTensor(signature, t.Name); err != nil || got != t.Tensor {
			r.Taps[i].Name = t.Tensor
		}
	}
	if !tensors {
		r.Tensors, r.TensorsNote = nil, ""
	}
	return r, nil
}

// suggestedSizes is how many feature map sizes SuggestTaps offers.
const suggestedSizes = 3

// SuggestTaps picks taps for a head among tensors (in topological order,
// with static shapes): a head wants a feature map [N H W C], and the last
// ones before the graph pools or flattens them away carry the most
// specific features. It offers the last tappable rank-4 tensor of each of
// the last few spatial sizes, deepest first, each larger than the one
// before, so that a user can also step back to larger, more generic maps.
// The input, copies and padding are no feature maps of their own; maps of 1x1 (squeeze-and-excite
// branches, pooling with keepdims) count only when nothing larger is there.
func SuggestTaps(tensors []Tensor) []Tap {
	var maps []Tensor
	for _, t := range tensors {
		switch {
		case !t.Tappable || len(t.Shape) != 4 || t.Shape[1] < 1 || t.Shape[2] < 1 || t.Shape[3] < 1:
		case t.Op == "Placeholder" || t.Op == "Identity": // the input's pixels, copies of a layer's output
		case strings.HasPrefix(t.Op, "Pad") || strings.HasSuffix(t.Op, "Pad"):
		default:
			maps = append(maps, t)
		}
	}
	if slices.ContainsFunc(maps, func(t Tensor) bool { return t.Shape[1]*t.Shape[2] > 1 }) {
		maps = slices.DeleteFunc(maps, func(t Tensor) bool { return t.Shape[1]*t.Shape[2] == 1 })
	}
	var taps []Tap
	area := 0
	for i := len(maps) - 1; i >= 0 && len(taps) < suggestedSizes; i-- {
		t := maps[i]
		if t.Shape[1]*t.Shape[2] <= area {
			continue
		}
		area = t.Shape[1] * t.Shape[2]
		taps = append(taps, Tap{Name: cmp.Or(t.Layer, t.Name), Tensor: t.Name, Shape: t.Shape})
	}
	return taps
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
	var fromInput map[string]bool
	g, err := m.FlattenSignature(signature)
	if err == nil {
		fromInput = dependents(g)
		shapes, err = native.InferShapes(g, nil)
	}
	if err != nil {
		r.TensorsNote = fmt.Sprintf("static shapes unavailable: %v", err)
	}
	for _, d := range descs {
		t := Tensor{Name: d.Name, Op: d.Op, DType: d.DType.String(), Shape: shapes[d.Name], Layer: d.Layer}
		t.Tappable = tappable(d, t.Shape, fromInput)
		r.Tensors = append(r.Tensors, t)
	}
	return nil
}

// dependents returns the nodes of g whose value depends on a fed input.
func dependents(g *savedmodel.Graph) map[string]bool {
	dep := map[string]bool{}
	for _, in := range g.Inputs {
		dep[in] = true
	}
	for _, n := range g.Nodes {
		for _, in := range n.Input {
			if node, _, _ := strings.Cut(in, ":"); dep[node] {
				dep[n.Name] = true
				break
			}
		}
	}
	return dep
}

// tappable decides whether a head can usefully read the tensor. Without
// the flattened graph (fromInput nil) it goes by the op alone.
func tappable(d savedmodel.TensorDesc, shape []int, fromInput map[string]bool) bool {
	switch d.DType {
	case tensor.Float32, tensor.Float16, tensor.Float64:
	default:
		return false // shape arithmetic, indices, strings
	}
	switch d.Op {
	case "Const", "ReadVariableOp", "VariableV2", "Variable", "VarHandleOp":
		return false
	case "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3":
		if !strings.HasSuffix(d.Name, ":0") {
			return false // batch statistics and reserve space, empty at inference
		}
	}
	for _, n := range shape {
		if n == 0 {
			return false
		}
	}
	return fromInput == nil || fromInput[d.Node]
}
