package savedmodel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	pb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/base/wrap"
)

// DefaultTag is the tag set Load picks when none is given.
const DefaultTag = "serve"

// Model is one meta graph of a SavedModel with its checkpoint.
type Model struct {
	Dir          string
	Tags         []string
	TFVersion    string // meta_info_def.tensorflow_version, e.g. "2.15.0"
	TFGitVersion string
	// Signatures by key (the internal "__saved_model_init_op" is left out).
	Signatures map[string]*Signature
	// Variables of the main graph, sorted by node name.
	Variables []*Variable

	roots  Files // where the model's files may come from
	meta   *pb.MetaGraphDef
	funcs  funcLib
	ops    opRegistry
	bundle *Bundle
	vars   map[string]*Variable
	flat   *flatGraph
	mu     sync.Mutex // guards cache; a Model is safe for concurrent use
	cache  map[string]*tensor.Tensor
}

// Signature is a SignatureDef: named graph inputs and outputs.
type Signature struct {
	Key     string
	Method  string       // e.g. "tensorflow/serving/predict"
	Inputs  []TensorInfo // sorted by Key
	Outputs []TensorInfo // sorted by Key
}

// TensorInfo is one signature input or output.
type TensorInfo struct {
	Key   string // the signature's name for it, e.g. "input_1"
	Name  string // graph tensor, e.g. "serving_default_input_1:0"
	DType tensor.DType
	// Shape has -1 for unknown dimensions; nil when the rank is unknown.
	Shape []int64
}

// Variable is a variable node of the main graph bound to its checkpoint key.
type Variable struct {
	Node  string // VarHandleOp / VariableV2 node name
	Op    string
	Key   string // checkpoint key; "" if the restore graph does not restore it
	DType tensor.DType
	Shape []int64
}

// Load reads the SavedModel in dir and selects the meta graph whose tag set
// is exactly tags (default: "serve").
func Load(dir string, tags ...string) (*Model, error) { return LoadIn(nil, dir, tags...) }

// maxGraphBytes caps saved_model.pb/.pbtxt and the checkpoint index:
// protobuf's own 2 GiB limit, so a huge file fails before it is read.
const maxGraphBytes = 2 << 30

// LoadIn is Load with every file of the model (graph, checkpoint index
// and shards) opened inside roots: regular files only, no symlink out of
// them (nil roots: regular files only).
func LoadIn(roots Files, dir string, tags ...string) (*Model, error) {
	roots = filesOrPlain(roots)
	sm, err := readSavedModel(roots, dir)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		tags = []string{DefaultTag}
	}
	meta, err := pickMetaGraph(sm, tags)
	if err != nil {
		return nil, wrap.Errorf("savedmodel", err, "%s", dir)
	}
	m := &Model{
		Dir: dir, Tags: append([]string(nil), tags...), meta: meta, roots: roots,
		TFVersion:    meta.GetMetaInfoDef().GetTensorflowVersion(),
		TFGitVersion: meta.GetMetaInfoDef().GetTensorflowGitVersion(),
		Signatures:   map[string]*Signature{},
		funcs:        funcLib{},
		ops:          newOpRegistry(meta.GetMetaInfoDef().GetStrippedOpList()),
		vars:         map[string]*Variable{},
		cache:        map[string]*tensor.Tensor{},
	}
	for _, f := range meta.GetGraphDef().GetLibrary().GetFunction() {
		if f.GetSignature() == nil {
			return nil, fmt.Errorf("%w: %s: function without a signature", ErrGraph, dir)
		}
		m.funcs[f.Signature.Name] = f
	}
	for k, sd := range meta.GetSignatureDef() {
		if strings.HasPrefix(k, "__saved_model") {
			continue
		}
		m.Signatures[k] = newSignature(k, sd)
	}
	m.flat = expand(meta.GetGraphDef().GetNode(), m.funcs, m.ops)
	m.collectVariables()
	if err := m.bindVariables(); err != nil {
		return nil, wrap.Errorf("savedmodel", err, "%s", dir)
	}
	if err := m.openBundle(); err != nil {
		return nil, err
	}
	return m, nil
}

func readSavedModel(roots Files, dir string) (*pb.SavedModel, error) {
	var sm pb.SavedModel
	pbPath := filepath.Join(dir, "saved_model.pb")
	b, err := roots.ReadFile(pbPath, maxGraphBytes)
	switch {
	case err == nil:
		if err := proto.Unmarshal(b, &sm); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotSavedModel, pbPath, err)
		}
	case errors.Is(err, os.ErrNotExist):
		txtPath := filepath.Join(dir, "saved_model.pbtxt")
		b, err2 := roots.ReadFile(txtPath, maxGraphBytes)
		if err2 != nil && !errors.Is(err2, os.ErrNotExist) {
			return nil, fmt.Errorf("savedmodel: %w", err2)
		}
		if err2 != nil {
			if _, e := os.Stat(filepath.Join(dir, "saved_model.cpb")); e == nil {
				return nil, fmt.Errorf("%w: %s is a chunked SavedModel (saved_model.cpb); re-save it without chunking", ErrUnsupported, dir)
			}
			return nil, fmt.Errorf("%w: %s has neither saved_model.pb nor saved_model.pbtxt", ErrNotSavedModel, dir)
		}
		if err := (prototext.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &sm); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotSavedModel, txtPath, err)
		}
	default:
		return nil, fmt.Errorf("savedmodel: %w", err)
	}
	if len(sm.MetaGraphs) == 0 {
		return nil, fmt.Errorf("%w: %s has no meta graphs", ErrNotSavedModel, dir)
	}
	return &sm, nil
}

func tagKey(tags []string) string {
	t := append([]string(nil), tags...)
	sort.Strings(t)
	return strings.Join(t, ",")
}

// pickMetaGraph finds the meta graph whose tag set equals tags, as
// TensorFlow's loader does.
func pickMetaGraph(sm *pb.SavedModel, tags []string) (*pb.MetaGraphDef, error) {
	want := tagKey(tags)
	var have []string
	for _, mg := range sm.MetaGraphs {
		k := tagKey(mg.GetMetaInfoDef().GetTags())
		if k == want {
			if mg.GetGraphDef() == nil {
				return nil, fmt.Errorf("%w: meta graph [%s] has no graph_def", ErrNotSavedModel, k)
			}
			return mg, nil
		}
		have = append(have, "["+k+"]")
	}
	return nil, hint.With(fmt.Errorf("%w: [%s]; the model has tag sets %s", ErrTagSet, want, strings.Join(have, " ")), "pick one with --tags")
}

// TagSets lists the tag sets of the SavedModel in dir.
func TagSets(dir string) ([][]string, error) {
	sm, err := readSavedModel(nil, dir)
	if err != nil {
		return nil, err
	}
	var out [][]string
	for _, mg := range sm.MetaGraphs {
		out = append(out, append([]string(nil), mg.GetMetaInfoDef().GetTags()...))
	}
	return out, nil
}

func newSignature(key string, sd *pb.SignatureDef) *Signature {
	s := &Signature{Key: key, Method: sd.GetMethodName()}
	conv := func(m map[string]*pb.TensorInfo) []TensorInfo {
		var out []TensorInfo
		for k, ti := range m {
			out = append(out, TensorInfo{Key: k, Name: ti.GetName(), DType: dtypeOf(ti.GetDtype()), Shape: shapeDims(ti.GetTensorShape())})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		return out
	}
	s.Inputs, s.Outputs = conv(sd.GetInputs()), conv(sd.GetOutputs())
	return s
}

// Signature returns the signature with the given key ("" means
// "serving_default").
func (m *Model) Signature(key string) (*Signature, error) {
	if key == "" {
		key = "serving_default"
	}
	s, ok := m.Signatures[key]
	if !ok {
		return nil, fmt.Errorf("%w: %q; the model has %s", ErrUnknownSignature, key, listOrNone(m.SignatureKeys()))
	}
	return s, nil
}

// SignatureKeys lists the signature keys in sorted order.
func (m *Model) SignatureKeys() []string {
	var k []string
	for s := range m.Signatures {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Ops histograms the op types of the main graph and every function body
// (for `graft inspect`).
func (m *Model) Ops() map[string]int {
	h := map[string]int{}
	count := func(ns []*ndpb.NodeDef) {
		for _, n := range ns {
			h[n.Op]++
		}
	}
	count(m.meta.GetGraphDef().GetNode())
	for _, f := range m.funcs {
		count(f.NodeDef)
	}
	return h
}

// MetaGraph exposes the selected MetaGraphDef (read-only).
func (m *Model) MetaGraph() *pb.MetaGraphDef { return m.meta }

// Bundle is the model's checkpoint, nil when it has no variables/.
func (m *Model) Bundle() *Bundle { return m.bundle }

func (m *Model) collectVariables() {
	for _, n := range m.meta.GetGraphDef().GetNode() {
		switch n.Op {
		case "VarHandleOp", "VariableV2", "Variable":
			v := &Variable{Node: n.Name, Op: n.Op, DType: dtypeOf(n.Attr["dtype"].GetType()), Shape: shapeDims(n.Attr["shape"].GetShape())}
			m.vars[n.Name] = v
			m.Variables = append(m.Variables, v)
		}
	}
	sort.Slice(m.Variables, func(i, j int) bool { return m.Variables[i].Node < m.Variables[j].Node })
}

func (m *Model) openBundle() error {
	prefix := filepath.Join(m.Dir, "variables", "variables")
	var need []string
	for _, v := range m.Variables {
		if v.Key != "" {
			need = append(need, v.Node)
		}
	}
	if _, err := os.Stat(prefix + ".index"); errors.Is(err, os.ErrNotExist) {
		if len(need) > 0 {
			return fmt.Errorf("%w: %s restores %d variables (%s) but %s.index does not exist: copy the whole SavedModel directory, including variables/",
				ErrMissingVariables, m.Dir, len(need), strings.Join(firstN(need, 3), ", "), prefix)
		}
		return nil
	}
	b, err := OpenBundleIn(m.roots, prefix)
	if err != nil {
		return err
	}
	m.bundle = b
	for _, v := range m.Variables {
		if v.Key == "" {
			continue
		}
		if _, ok := b.Entry(v.Key); !ok {
			return fmt.Errorf("%w: variable %s is restored from key %q, which %s.index lacks (checkpoint from another model?)", ErrMissingVariables, v.Node, v.Key, prefix)
		}
	}
	return nil
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], "...")
}

// VariableValue reads the restored value of a main-graph variable node.
func (m *Model) VariableValue(node string) (*tensor.Tensor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.cache[node]; ok {
		return t, nil
	}
	v, ok := m.vars[node]
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a variable", ErrUnknownTensor, node)
	}
	if v.Key == "" {
		return nil, fmt.Errorf("%w: variable %s is not restored from the checkpoint (no restore op assigns it)", ErrMissingVariables, node)
	}
	if m.bundle == nil {
		return nil, fmt.Errorf("%w: variable %s: the model has no variables/ checkpoint", ErrMissingVariables, node)
	}
	t, err := m.bundle.Read(v.Key)
	if err != nil {
		return nil, fmt.Errorf("variable %s: %w", node, err)
	}
	m.cache[node] = t
	return t, nil
}
