package savedmodel

import (
	"fmt"

	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
)

// maxCallDepth bounds function inlining (recursive libraries).
const maxCallDepth = 64

// flatGraph is the main graph with every function call inlined: the body
// of a call node C is copied with names "C/<inner>", call outputs become
// aliases of the function's return tensors, and function args are replaced
// by the caller's inputs. Inputs are raw "node:i" refs (always with an
// index) that may name an alias; control inputs are dropped.
//
// Expansion never fails as a whole: a call that cannot be inlined marks its
// node broken, and only graphs that need it report the error.
type flatGraph struct {
	nodes  map[string]*flatNode
	order  []*flatNode // creation order, for deterministic listings
	alias  map[string]string
	broken map[string]error
}

type flatNode struct {
	def *ndpb.NodeDef // Name is the flat name, Input raw refs; Attr shared, never mutated
	// inner is the node's name inside its function ("" for main-graph
	// nodes), for tap resolution.
	inner string
}

func isCallOp(op string) bool { return op == "StatefulPartitionedCall" || op == "PartitionedCall" }

func expand(main []*ndpb.NodeDef, funcs funcLib, ops opRegistry) *flatGraph {
	g := &flatGraph{nodes: map[string]*flatNode{}, alias: map[string]string{}, broken: map[string]error{}}
	in := func(s string) (string, error) {
		node, i, err := parseTensorName(s)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s:%d", node, i), nil
	}
	g.addScope("", main, in, funcs, ops, 0)
	return g
}

// addScope adds nodes whose inputs translate through in.
func (g *flatGraph) addScope(prefix string, nodes []*ndpb.NodeDef, in func(string) (string, error), funcs funcLib, ops opRegistry, depth int) {
	for _, n := range nodes {
		name := prefix + n.Name
		if _, dup := g.nodes[name]; dup || g.broken[name] != nil {
			g.broken[name] = fmt.Errorf("%w: two nodes named %q after inlining", ErrGraph, name)
			continue
		}
		var inputs []string
		var err error
		for _, s := range n.Input {
			if len(s) > 0 && s[0] == '^' {
				continue
			}
			r, e := in(s)
			if e != nil {
				err = fmt.Errorf("%w: node %q input %q: %v", ErrGraph, name, s, e)
				break
			}
			inputs = append(inputs, r)
		}
		if err != nil {
			g.broken[name] = err
			continue
		}
		fname := ""
		if isCallOp(n.Op) {
			fname = n.Attr["f"].GetFunc().GetName()
			if fname == "" {
				g.broken[name] = fmt.Errorf("%w: call node %q has no function attr f", ErrGraph, name)
				continue
			}
		} else if _, ok := funcs[n.Op]; ok {
			fname = n.Op
		}
		if fname == "" {
			fn := &flatNode{def: &ndpb.NodeDef{Name: name, Op: n.Op, Input: inputs, Device: n.Device, Attr: n.Attr}}
			if prefix != "" {
				fn.inner = n.Name
			}
			g.nodes[name] = fn
			g.order = append(g.order, fn)
			continue
		}
		if err := g.inline(name, fname, inputs, funcs, ops, depth); err != nil {
			g.broken[name] = err
		}
	}
}

// inline expands the body of function fname called by node call.
func (g *flatGraph) inline(call, fname string, inputs []string, funcs funcLib, ops opRegistry, depth int) error {
	f, ok := funcs[fname]
	if !ok {
		return fmt.Errorf("%w: node %q calls function %q, which the library lacks", ErrGraph, call, fname)
	}
	if depth >= maxCallDepth {
		return fmt.Errorf("%w: function calls nested deeper than %d at %q (recursive function?)", ErrUnsupported, maxCallDepth, call)
	}
	sig := f.GetSignature()
	if len(sig.GetInputArg()) != len(inputs) {
		return fmt.Errorf("%w: node %q passes %d inputs to %s, which takes %d", ErrGraph, call, len(inputs), fname, len(sig.GetInputArg()))
	}
	args := map[string]string{}
	for i, a := range sig.GetInputArg() {
		if a.NumberAttr != "" || a.TypeListAttr != "" {
			return fmt.Errorf("%w: function %s has list input %q", ErrUnsupported, fname, a.Name)
		}
		args[a.Name] = inputs[i]
	}
	body := map[string]*ndpb.NodeDef{}
	for _, n := range f.NodeDef {
		body[n.Name] = n
	}
	prefix := call + "/"
	in := func(s string) (string, error) { return funcInput(s, prefix, args, body, funcs, ops) }
	g.addScope(prefix, f.NodeDef, in, funcs, ops, depth+1)
	for i, oa := range sig.GetOutputArg() {
		if oa.NumberAttr != "" || oa.TypeListAttr != "" {
			return fmt.Errorf("%w: function %s has list output %q", ErrUnsupported, fname, oa.Name)
		}
		ret, ok := f.Ret[oa.Name]
		if !ok {
			return fmt.Errorf("%w: function %s does not return its output %q", ErrGraph, fname, oa.Name)
		}
		r, err := in(ret)
		if err != nil {
			return fmt.Errorf("%w: function %s output %q: %v", ErrGraph, fname, oa.Name, err)
		}
		g.alias[fmt.Sprintf("%s:%d", call, i)] = r
	}
	return nil
}

// funcInput translates a FunctionDef-internal input to a raw flat ref.
func funcInput(s, prefix string, args map[string]string, body map[string]*ndpb.NodeDef, funcs funcLib, ops opRegistry) (string, error) {
	node, arg, idx, err := parseFuncInput(s)
	if err != nil {
		return "", err
	}
	if idx < 0 {
		if r, ok := args[node]; ok {
			return r, nil
		}
		if _, ok := body[node]; ok {
			return fmt.Sprintf("%s%s:0", prefix, node), nil
		}
		return "", fmt.Errorf("no argument or node %q", node)
	}
	n, ok := body[node]
	if !ok {
		return "", fmt.Errorf("no node %q in the function body", node)
	}
	k, err := ops.outputIndex(n, arg, idx, funcs)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%s:%d", prefix, node, k), nil
}

// resolve follows aliases from a raw ref to a real node output.
func (g *flatGraph) resolve(ref string) (*flatNode, int, error) {
	for hops := 0; ; hops++ {
		next, ok := g.alias[ref]
		if !ok {
			break
		}
		if hops > len(g.alias) {
			return nil, 0, fmt.Errorf("%w: alias cycle at %q", ErrGraph, ref)
		}
		ref = next
	}
	node, i, err := parseTensorName(ref)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrGraph, err)
	}
	if n, ok := g.nodes[node]; ok {
		return n, i, nil
	}
	if err := g.broken[node]; err != nil {
		return nil, 0, err
	}
	return nil, 0, fmt.Errorf("%w: %q", ErrUnknownTensor, tensorName(node, i))
}

// through follows Identity-like forwarding from a node output: Identity,
// IdentityN and friends pass input i to output i.
func (g *flatGraph) through(n *flatNode, i int) (*flatNode, int, error) {
	for hops := 0; hops < len(g.nodes)+1; hops++ {
		switch n.def.Op {
		case "Identity", "StopGradient", "Snapshot":
			i = 0
		case "IdentityN":
		default:
			return n, i, nil
		}
		if i >= len(n.def.Input) {
			return nil, 0, fmt.Errorf("%w: %s has no input %d", ErrGraph, n.def.Name, i)
		}
		var err error
		if n, i, err = g.resolve(n.def.Input[i]); err != nil {
			return nil, 0, err
		}
	}
	return nil, 0, fmt.Errorf("%w: identity cycle", ErrGraph)
}
