package savedmodel

import (
	"fmt"
	"sort"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	shpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/base/wrap"
)

// FlattenSignature flattens the graph that computes every output of a
// signature ("" = "serving_default") from its inputs; Graph.Outputs follow
// the order of Signature.Outputs, and the signature's inputs are fed (a
// TF1 input such as "x:0" that is not a Placeholder becomes one).
func (m *Model) FlattenSignature(key string) (*Graph, error) {
	s, err := m.Signature(key)
	if err != nil {
		return nil, err
	}
	fetches, feeds := sigTensors(s)
	return m.Flatten(fetches, feeds...)
}

func sigTensors(s *Signature) (fetches, feeds []string) {
	for _, o := range s.Outputs {
		fetches = append(fetches, o.Name)
	}
	for _, i := range s.Inputs {
		feeds = append(feeds, i.Name)
	}
	return fetches, feeds
}

// Flatten returns the flat graph that computes fetches from feeds. Names
// are tensor names of the main graph ("node", "node:i") or of inlined
// function bodies as Tensors and ResolveTensor give them
// ("StatefulPartitionedCall/sequential/conv2d/Relu:0").
//
// Every call is inlined, variable reads become Const nodes holding the
// restored values, control edges and NoOps are dropped, default attrs are
// filled in, and only what the fetches need is kept (the restore/save
// graphs disappear). A fed tensor becomes a Placeholder: it replaces its
// node when that node has one output, else it is a new node
// "node/feed_i". Graph.Outputs[i] is the canonical name of fetches[i]: a
// call's output is replaced by the tensor it returns, e.g.
// "StatefulPartitionedCall:0" becomes
// "StatefulPartitionedCall/StatefulPartitionedCall/sequential/dense/Softmax:0".
func (m *Model) Flatten(fetches []string, feeds ...string) (*Graph, error) {
	if len(fetches) == 0 {
		return nil, fmt.Errorf("savedmodel: flatten: no fetches")
	}
	f, err := m.newFlattener(feeds)
	if err != nil {
		return nil, err
	}
	order, outs, err := f.reach(fetches)
	if err != nil {
		return nil, err
	}
	g := &Graph{Consts: map[string]*tensor.Tensor{}, Variables: map[string]string{}}
	for _, fn := range order {
		def, val, err := f.emit(fn)
		if err != nil {
			return nil, wrap.Errorf("savedmodel", err, "flatten %s", m.Dir)
		}
		if val != nil {
			g.Consts[def.Name] = val
		}
		if v := f.vars[def.Name]; v != "" {
			g.Variables[def.Name] = v
		}
		if def.Op == "Placeholder" {
			g.Inputs = append(g.Inputs, def.Name)
		}
		g.Nodes = append(g.Nodes, def)
	}
	for _, o := range outs {
		g.Outputs = append(g.Outputs, fmt.Sprintf("%s:%d", o.node.def.Name, o.idx))
	}
	return g, nil
}

type output struct {
	node *flatNode
	idx  int
}

// flattener resolves inputs with fed tensors cut off.
type flattener struct {
	m     *Model
	feeds map[output]*flatNode
	vars  map[string]string // Const node -> the variable it was read from
}

func (m *Model) newFlattener(feeds []string) (*flattener, error) {
	f := &flattener{m: m, feeds: map[output]*flatNode{}, vars: map[string]string{}}
	for _, name := range feeds {
		n, i, err := m.lookup(name)
		if err != nil {
			return nil, fmt.Errorf("feed: %w", err)
		}
		if n.def.Op == "Placeholder" {
			continue
		}
		pname := n.def.Name
		if m.numOutputs(n) > 1 {
			pname = fmt.Sprintf("%s/feed_%d", n.def.Name, i)
		}
		dts := m.outputDTypes(n)
		dt := tensor.Invalid
		if i < len(dts) {
			dt = dts[i]
		}
		attr := map[string]*avpb.AttrValue{
			"dtype": {Value: &avpb.AttrValue_Type{Type: dtypeProto(dt)}},
			"shape": {Value: &avpb.AttrValue_Shape{Shape: m.feedShape(name, n, i)}},
		}
		f.feeds[output{n, i}] = &flatNode{def: &ndpb.NodeDef{Name: pname, Op: "Placeholder", Attr: attr}, inner: n.inner}
	}
	return f, nil
}

// feedShape finds a fed tensor's static shape: from a signature that
// declares it, else from _output_shapes, else unknown.
func (m *Model) feedShape(name string, n *flatNode, i int) *shpb.TensorShapeProto {
	for _, k := range m.SignatureKeys() {
		for _, ti := range m.Signatures[k].Inputs {
			if ti.Name == name || ti.Name+":0" == name || ti.Name == name+":0" {
				if ti.Shape == nil {
					return &shpb.TensorShapeProto{UnknownRank: true}
				}
				s := &shpb.TensorShapeProto{}
				for _, d := range ti.Shape {
					s.Dim = append(s.Dim, &shpb.TensorShapeProto_Dim{Size: d})
				}
				return s
			}
		}
	}
	if l := n.def.Attr["_output_shapes"].GetList().GetShape(); i < len(l) {
		return l[i]
	}
	return &shpb.TensorShapeProto{UnknownRank: true}
}

// input resolves a raw ref, substituting fed tensors.
func (f *flattener) input(ref string) (*flatNode, int, error) {
	n, i, err := f.m.flat.resolve(ref)
	if err != nil {
		return nil, 0, err
	}
	if p, ok := f.feeds[output{n, i}]; ok {
		return p, 0, nil
	}
	return n, i, nil
}

// isVarRead reports whether a node reads a variable that Flatten turns into
// a Const (so the walk stops there).
func isVarRead(op string) bool {
	switch op {
	case "ReadVariableOp", "VariableV2", "Variable":
		return true
	}
	return false
}

// reach resolves the fetches and returns every node they need in
// topological order (inputs first), without reading any variable.
func (f *flattener) reach(fetches []string) ([]*flatNode, []output, error) {
	var outs []output
	for _, name := range fetches {
		n, i, err := f.m.lookup(name)
		if err != nil {
			return nil, nil, err
		}
		if p, ok := f.feeds[output{n, i}]; ok {
			n, i = p, 0
		}
		outs = append(outs, output{n, i})
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[*flatNode]int{}
	var order []*flatNode
	type frame struct {
		n    *flatNode
		next int
	}
	for _, o := range outs {
		if state[o.node] == done {
			continue
		}
		stack := []frame{{o.node, 0}}
		state[o.node] = active
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			ins := top.n.def.Input
			if isVarRead(top.n.def.Op) {
				ins = nil
			}
			if top.next == len(ins) {
				state[top.n] = done
				order = append(order, top.n)
				stack = stack[:len(stack)-1]
				continue
			}
			ref := ins[top.next]
			top.next++
			in, _, err := f.input(ref)
			if err != nil {
				return nil, nil, wrap.Errorf("savedmodel", err, "%s: node %s", f.m.Dir, top.n.def.Name)
			}
			switch state[in] {
			case active:
				return nil, nil, fmt.Errorf("%w: %s: cycle through %s (control flow loops are not supported)", ErrGraph, f.m.Dir, in.def.Name)
			case unseen:
				state[in] = active
				stack = append(stack, frame{in, 0})
			}
		}
	}
	return order, outs, nil
}

// lookup resolves a tensor name of the flat namespace.
func (m *Model) lookup(name string) (*flatNode, int, error) {
	node, i, err := parseTensorName(name)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrUnknownTensor, err)
	}
	n, k, err := m.flat.resolve(fmt.Sprintf("%s:%d", node, i))
	if err != nil {
		return nil, 0, wrap.Errorf("savedmodel", err, "tensor %q", name)
	}
	if k >= m.numOutputs(n) {
		return nil, 0, fmt.Errorf("%w: %q: node %s (%s) has %d outputs", ErrUnknownTensor, name, n.def.Name, n.def.Op, m.numOutputs(n))
	}
	return n, k, nil
}

// emit builds the output NodeDef of a reached node (and a Const's value).
func (f *flattener) emit(fn *flatNode) (*ndpb.NodeDef, *tensor.Tensor, error) {
	m := f.m
	d := fn.def
	if isVarRead(d.Op) {
		def, val, v, err := m.varConst(fn)
		if err == nil {
			f.vars[def.Name] = v
		}
		return def, val, err
	}
	out := &ndpb.NodeDef{Name: d.Name, Op: d.Op, Attr: map[string]*avpb.AttrValue{}}
	attrs := d.Attr
	if op, ok := m.ops[d.Op]; ok {
		attrs = withDefaults(attrs, op)
	}
	for k, v := range attrs {
		out.Attr[k] = v
	}
	for _, ref := range d.Input {
		n, i, err := f.input(ref)
		if err != nil {
			return nil, nil, err
		}
		if n.def.Op == "VarHandleOp" {
			return nil, nil, fmt.Errorf("%w: node %s (%s) uses variable %s other than through ReadVariableOp", ErrUnsupported, d.Name, d.Op, n.def.Name)
		}
		out.Input = append(out.Input, tensorName(n.def.Name, i))
	}
	if d.Op == "Const" {
		v, err := constValue(d.Name, d.Attr)
		if err != nil {
			return nil, nil, err
		}
		return out, v, nil
	}
	return out, nil, nil
}

// varConst replaces a variable read by a Const of the restored value; it
// also names the variable's node.
func (m *Model) varConst(fn *flatNode) (*ndpb.NodeDef, *tensor.Tensor, string, error) {
	d := fn.def
	vnode := fn
	if d.Op == "ReadVariableOp" {
		if len(d.Input) != 1 {
			return nil, nil, "", fmt.Errorf("%w: %s has %d inputs", ErrGraph, d.Name, len(d.Input))
		}
		n, i, err := m.flat.resolve(d.Input[0])
		if err == nil {
			vnode, _, err = m.flat.through(n, i)
		}
		if err != nil {
			return nil, nil, "", fmt.Errorf("%s: %w", d.Name, err)
		}
	}
	if _, ok := m.vars[vnode.def.Name]; !ok {
		return nil, nil, "", fmt.Errorf("%w: %s reads %s (%s), which is not a variable of the main graph", ErrUnsupported, d.Name, vnode.def.Name, vnode.def.Op)
	}
	val, err := m.VariableValue(vnode.def.Name)
	if err != nil {
		return nil, nil, "", err
	}
	tp, err := TensorToProto(val)
	if err != nil {
		return nil, nil, "", fmt.Errorf("variable %s: %w", vnode.def.Name, err)
	}
	def := &ndpb.NodeDef{Name: d.Name, Op: "Const", Attr: map[string]*avpb.AttrValue{
		"dtype": {Value: &avpb.AttrValue_Type{Type: dtypeProto(val.DType)}},
		"value": {Value: &avpb.AttrValue_Tensor{Tensor: tp}},
	}}
	return def, val, vnode.def.Name, nil
}

// numOutputs counts a node's outputs from its OpDef (1 for unknown ops).
func (m *Model) numOutputs(n *flatNode) int {
	op, ok := m.ops[n.def.Op]
	if !ok {
		return 1
	}
	attrs := withDefaults(n.def.Attr, op)
	total := 0
	for _, a := range op.OutputArg {
		c, err := argCount(a, attrs)
		if err != nil {
			return 1
		}
		total += c
	}
	return total
}

// outputDTypes lists a node's output dtypes (Invalid where unknown).
func (m *Model) outputDTypes(n *flatNode) []tensor.DType {
	op, ok := m.ops[n.def.Op]
	if !ok {
		t := n.def.Attr["T"].GetType()
		if t == 0 {
			t = n.def.Attr["dtype"].GetType()
		}
		return []tensor.DType{dtypeOf(t)}
	}
	attrs := withDefaults(n.def.Attr, op)
	var out []tensor.DType
	for _, a := range op.OutputArg {
		switch {
		case a.TypeListAttr != "":
			for _, t := range attrs[a.TypeListAttr].GetList().GetType() {
				out = append(out, dtypeOf(t))
			}
		default:
			c, err := argCount(a, attrs)
			if err != nil {
				c = 1
			}
			dt := dtypeOf(a.Type)
			if a.TypeAttr != "" {
				dt = dtypeOf(attrs[a.TypeAttr].GetType())
			}
			for j := 0; j < c; j++ {
				out = append(out, dt)
			}
		}
	}
	return out
}

// sortedKeys is a small helper for deterministic maps.
func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
