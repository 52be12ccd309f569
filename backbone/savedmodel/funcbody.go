package savedmodel

import (
	"fmt"
	"strings"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	opb "github.com/galeone/tensorflow/tensorflow/go/core/framework/op_def_go_proto"
)

// Body is a flat graph turned back into the nodes of a function body, for
// a WriteSpec: what export writes as the backbone part of a model.
type Body struct {
	Nodes []*ndpb.NodeDef
	// Outputs are the FunctionDef refs of Graph.Outputs, in order.
	Outputs []string
	// Variables are the graph's restored variables, each read by the
	// ReadVariableOp nodes that replace its Consts (values exactly as read).
	Variables []*WriteVariable
	// OpDefs are the model's definitions of ops outside graft's registry.
	OpDefs map[string]*opb.OpDef
}

// FunctionBody converts g, flattened from m, into function-body form:
// inputs become "node:out_arg:idx", the graph's one input is replaced by
// feed (a ref the caller's body provides), Consts that replaced variables
// become ReadVariableOps of resource args, and the "StatefulPartitionedCall/"
// scopes inlining added are dropped from names where that keeps them
// unique.
func (m *Model) FunctionBody(g *Graph, feed string) (*Body, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("savedmodel: function body: the graph has %d inputs, want 1", len(g.Inputs))
	}
	byName := map[string]*ndpb.NodeDef{}
	for _, n := range g.Nodes {
		byName[n.Name] = n
	}
	rename := shortNames(g)
	b := &Body{OpDefs: map[string]*opb.OpDef{}}
	ref := func(t string) (string, error) {
		node, i, err := parseTensorName(t)
		if err != nil {
			return "", err
		}
		if node == g.Inputs[0] {
			if i != 0 {
				return "", fmt.Errorf("savedmodel: function body: input %s has one output", t)
			}
			return feed, nil
		}
		n, ok := byName[node]
		if !ok {
			return "", fmt.Errorf("savedmodel: function body: %s names no node", t)
		}
		if _, isVar := g.Variables[node]; isVar {
			return rename[node] + ":value:0", nil
		}
		return m.funcRef(n, rename[node], i)
	}
	args := map[string]*WriteVariable{}
	argUsed := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Name == g.Inputs[0] {
			continue
		}
		if v, ok := g.Variables[n.Name]; ok {
			wv := args[v]
			if wv == nil {
				layer, name := "variables", v
				if i := strings.LastIndex(v, "/"); i > 0 {
					layer, name = v[:i], v[i+1:]
				}
				arg := argName(v) + "_resource"
				for k := 1; argUsed[arg]; k++ {
					arg = fmt.Sprintf("%s_%d_resource", argName(v), k)
				}
				argUsed[arg] = true
				wv = &WriteVariable{Layer: layer, Name: name, Arg: arg, Value: g.Consts[n.Name]}
				args[v] = wv
				b.Variables = append(b.Variables, wv)
			}
			b.Nodes = append(b.Nodes, &ndpb.NodeDef{Name: rename[n.Name], Op: "ReadVariableOp", Input: []string{wv.Arg},
				Attr: map[string]*avpb.AttrValue{"dtype": AttrType(wv.Value.DType)}})
			continue
		}
		c := &ndpb.NodeDef{Name: rename[n.Name], Op: n.Op, Attr: map[string]*avpb.AttrValue{}}
		for k, v := range n.Attr {
			if !strings.HasPrefix(k, "_") { // colocation and shape hints of the source graph
				c.Attr[k] = v
			}
		}
		for _, in := range n.Input {
			r, err := ref(in)
			if err != nil {
				return nil, err
			}
			c.Input = append(c.Input, r)
		}
		if _, builtin := builtinOps[n.Op]; !builtin {
			if def, ok := m.ops[n.Op]; ok {
				b.OpDefs[n.Op] = def
			}
		}
		b.Nodes = append(b.Nodes, c)
	}
	for _, o := range g.Outputs {
		r, err := ref(o)
		if err != nil {
			return nil, err
		}
		b.Outputs = append(b.Outputs, r)
	}
	return b, nil
}

// funcRef names output i of node n (renamed to name) as a function body
// refers to it: the output arg that holds it and the index inside that arg.
func (m *Model) funcRef(n *ndpb.NodeDef, name string, i int) (string, error) {
	op, ok := m.ops[n.Op]
	if !ok {
		return "", fmt.Errorf("%w: op %s (node %s) has no definition to name its outputs", ErrUnsupported, n.Op, n.Name)
	}
	attrs := withDefaults(n.Attr, op)
	base := 0
	for _, oa := range op.OutputArg {
		c, err := argCount(oa, attrs)
		if err != nil {
			return "", fmt.Errorf("node %s (%s): %v", n.Name, n.Op, err)
		}
		if i < base+c {
			return fmt.Sprintf("%s:%s:%d", name, oa.Name, i-base), nil
		}
		base += c
	}
	return "", fmt.Errorf("%w: node %s (%s) has %d outputs, output %d asked", ErrGraph, n.Name, n.Op, base, i)
}

// shortNames drops the leading call scopes ("StatefulPartitionedCall/",
// "PartitionedCall_1/", ...) that inlining put in front of node names, so
// that an exported backbone keeps its Keras names; where two nodes would
// collide, both keep their full names.
func shortNames(g *Graph) map[string]string {
	short := func(s string) string {
		for {
			head, rest, ok := strings.Cut(s, "/")
			if !ok || rest == "" {
				return s
			}
			h := strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(head, "Stateful"), "PartitionedCall"), "_0123456789")
			if h != "" || !strings.Contains(head, "PartitionedCall") {
				return s
			}
			s = rest
		}
	}
	count := map[string]int{}
	for _, n := range g.Nodes {
		count[short(n.Name)]++
	}
	out := map[string]string{}
	for _, n := range g.Nodes {
		if s := short(n.Name); count[s] == 1 {
			out[n.Name] = s
		} else {
			out[n.Name] = n.Name
		}
	}
	return out
}

// OutputRef is the function-body ref of output 0 of a node named name
// running op (one of graft's registry), e.g. "dense/MatMul:product:0".
func OutputRef(name, op string) (string, error) {
	def, ok := builtinOps[op]
	if !ok || len(def.OutputArg) == 0 {
		return "", fmt.Errorf("%w: op %s is not in graft's op registry (opdefs.pbtxt)", ErrUnsupported, op)
	}
	return name + ":" + def.OutputArg[0].Name + ":0", nil
}
