package native

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// ref names one output of one node by index into Engine.nodes.
type ref struct{ node, out int }

type node struct {
	def    *framework.NodeDef
	inputs []ref
	k      *kernel
	// uses counts the consumers of each output (fetches included), so Run
	// can drop an intermediate right after its last consumer.
	uses []int
	// konst is the node's value when it is constant (a Const, or folded
	// at load by optimize).
	konst *tensor.Tensor
	// fused is the name of the convolution a fused node started from.
	fused string
	// conv is a fused convolution's filter, window and epilogue: profiles
	// report its filter's shape as the node's second input (the filter is
	// no longer an input), and later fusions fold into it.
	conv *convSpec
	// inPlace marks a node whose output 0 is written over its input 0
	// (a squeeze-and-excitation block's scale): a view, for the memory
	// planner.
	inPlace bool
}

func (n *node) name() string { return n.def.GetName() }

// desc names the node in errors; a fused node names the convolution it
// started from and the ops it absorbed, which is where the graph has them.
func (n *node) desc() string {
	if n.fused != "" {
		return fmt.Sprintf("node %q (%s, fused with the ops up to %q)", n.fused, n.op(), n.name())
	}
	return fmt.Sprintf("node %q (%s)", n.name(), n.op())
}
func (n *node) op() string { return n.def.GetOp() }

// isFeed reports whether the node takes a caller feed.
func (n *node) isFeed() bool {
	return n.op() == "Placeholder" || n.op() == "PlaceholderWithDefault"
}

// Engine runs one flattened graph. It is immutable after New and safe for
// concurrent use.
type Engine struct {
	nodes   []*node
	byName  map[string]int
	outputs []ref
	outName []string
	feeds   map[string]int // Placeholder name -> node index
	arenas  sync.Pool      // *arena, one per concurrent run
}

// New compiles g: it resolves every input reference, checks every op and
// its attributes, and prunes nodes that no output needs. Unsupported ops
// are reported together in one error wrapping ErrUnsupportedOp.
func New(g *savedmodel.Graph) (*Engine, error) {
	if err := winoEnvCheck(winoEnv); err != nil {
		return nil, err
	}
	e, err := build(g, true)
	if err != nil {
		return nil, err
	}
	e.optimize()
	return e, nil
}

// build compiles g; with prune it keeps only the nodes the outputs need,
// without it every node (static inference reports all tensors).
func build(g *savedmodel.Graph, prune bool) (*Engine, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: nil graph", ErrGraph)
	}
	e := &Engine{byName: make(map[string]int, len(g.Nodes)), feeds: map[string]int{}}
	// Resolve references first (against all nodes), then prune.
	all := make([]*node, len(g.Nodes))
	for i, nd := range g.Nodes {
		if _, dup := e.byName[nd.GetName()]; dup {
			return nil, fmt.Errorf("%w: duplicate node name %q", ErrGraph, nd.GetName())
		}
		e.byName[nd.GetName()] = i
		n := &node{def: nd}
		for _, in := range nd.GetInput() {
			if strings.HasPrefix(in, "^") {
				continue // control dependency: ordering only, already topological
			}
			r, err := e.parseRef(in)
			if err != nil {
				return nil, fmt.Errorf("node %q (%s): %w", nd.GetName(), nd.GetOp(), err)
			}
			if r.node >= i {
				return nil, fmt.Errorf("%w: node %q (%s): input %q is not earlier in topological order", ErrGraph, nd.GetName(), nd.GetOp(), in)
			}
			n.inputs = append(n.inputs, r)
		}
		all[i] = n
	}
	for _, o := range g.Outputs {
		r, err := e.parseRef(o)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", o, err)
		}
		e.outputs = append(e.outputs, r)
		e.outName = append(e.outName, o)
	}
	live := make([]bool, len(all))
	for i := range live {
		live[i] = !prune
	}
	for _, r := range e.outputs {
		live[r.node] = true
	}
	for i := len(all) - 1; i >= 0; i-- {
		if live[i] {
			for _, r := range all[i].inputs {
				live[r.node] = true
			}
		}
	}
	var unsupported []string
	seen := map[string]bool{}
	for i, n := range all {
		if !live[i] {
			continue
		}
		k, err := compile(n.def, len(n.inputs), g.Consts[n.name()])
		if errors.Is(err, ErrUnsupportedOp) {
			if !seen[n.op()] {
				seen[n.op()] = true
				unsupported = append(unsupported, fmt.Sprintf("%q (node %q)", n.op(), n.name()))
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.name(), n.op(), err)
		}
		n.k = k
		n.uses = make([]int, k.nOut)
	}
	if len(unsupported) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedOp, strings.Join(unsupported, ", "))
	}
	// Keep live nodes only, renumbering references.
	newIdx := make([]int, len(all))
	for i, n := range all {
		newIdx[i] = -1
		if live[i] {
			newIdx[i] = len(e.nodes)
			e.nodes = append(e.nodes, n)
		}
	}
	e.byName = make(map[string]int, len(e.nodes))
	for i, n := range e.nodes {
		e.byName[n.name()] = i
		for j, r := range n.inputs {
			r.node = newIdx[r.node]
			if r.out >= e.nodes[r.node].k.nOut {
				src := e.nodes[r.node]
				return nil, fmt.Errorf("%w: node %q (%s): input %s:%d but %s has %d outputs", ErrGraph, n.name(), n.op(), src.name(), r.out, src.op(), src.k.nOut)
			}
			n.inputs[j] = r
			e.nodes[r.node].uses[r.out]++
		}
		if n.op() == "Placeholder" || n.op() == "PlaceholderWithDefault" {
			e.feeds[n.name()] = i
		}
	}
	for i, r := range e.outputs {
		r.node = newIdx[r.node]
		n := e.nodes[r.node]
		if r.out >= n.k.nOut {
			return nil, fmt.Errorf("%w: output %q: %s has %d outputs", ErrGraph, e.outName[i], n.op(), n.k.nOut)
		}
		e.outputs[i] = r
		n.uses[r.out]++
	}
	return e, nil
}

// parseRef resolves "node" or "node:i" against the nodes seen so far.
func (e *Engine) parseRef(s string) (ref, error) {
	name, out := s, 0
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if k, err := strconv.Atoi(s[i+1:]); err == nil && k >= 0 {
			name, out = s[:i], k
		}
	}
	idx, ok := e.byName[name]
	if !ok {
		return ref{}, fmt.Errorf("%w: reference to unknown node %q", ErrGraph, s)
	}
	return ref{node: idx, out: out}, nil
}

// Inputs lists the names of the placeholders the graph reads.
func (e *Engine) Inputs() []string {
	names := make([]string, 0, len(e.feeds))
	for _, n := range e.nodes {
		if n.isFeed() {
			names = append(names, n.name())
		}
	}
	return names
}

// Outputs lists the fetched tensors, as "node:i", in graph order.
func (e *Engine) Outputs() []string { return append([]string(nil), e.outName...) }

// Run evaluates the graph on feeds (keyed by placeholder name, "name:0"
// accepted) and returns the outputs keyed by their names in Graph.Outputs.
// It checks ctx between nodes. Outputs may share storage with the graph's
// constants or with the feeds: treat them as read-only.
func (e *Engine) Run(ctx context.Context, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return e.run(ctx, feeds, nil)
}

// NodeRun is one node's share of a profiled run.
type NodeRun struct {
	Name, Op string
	// Inputs and Output are the shapes it read and (first output) wrote.
	Inputs [][]int
	Output []int
	Time   time.Duration
}

// Profile is Run that also times every node, for benchmarks.
func (e *Engine) Profile(ctx context.Context, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, []NodeRun, error) {
	var prof []NodeRun
	out, err := e.run(ctx, feeds, &prof)
	return out, prof, err
}

func (e *Engine) run(ctx context.Context, feeds map[string]*tensor.Tensor, prof *[]NodeRun) (map[string]*tensor.Tensor, error) {
	fed, err := e.matchFeeds(feeds)
	if err != nil {
		return nil, err
	}
	vals := make([][]*tensor.Tensor, len(e.nodes))
	left := make([][]int, len(e.nodes))
	held := make([][]*lease, len(e.nodes))
	for i, n := range e.nodes {
		left[i] = append([]int(nil), n.uses...)
	}
	ar, _ := e.arenas.Get().(*arena)
	if ar == nil {
		ar = newArena()
	}
	for i, n := range e.nodes {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("native: run stopped before node %q: %w", n.name(), err)
		}
		// A fresh slice per node: pass-through kernels return slices of it.
		in := make([]*tensor.Tensor, 0, len(n.inputs))
		for _, r := range n.inputs {
			in = append(in, vals[r.node][r.out])
		}
		var out []*tensor.Tensor
		if t, ok := fed[i]; ok {
			out = []*tensor.Tensor{t}
		} else {
			start := time.Now()
			out, err = runNode(n, in, ar)
			if err != nil {
				return nil, err // the arena is dropped: its counts are off
			}
			if prof != nil {
				*prof = append(*prof, nodeRun(n, in, out, time.Since(start)))
			}
		}
		vals[i] = out
		held[i] = make([]*lease, len(out))
		for j, t := range out {
			held[i][j] = ar.hold(t)
		}
		for _, r := range n.inputs {
			if left[r.node][r.out]--; left[r.node][r.out] == 0 {
				vals[r.node][r.out] = nil
				if l := held[r.node][r.out]; l != nil {
					ar.release(l)
				}
			}
		}
	}
	ar.endRun()
	e.arenas.Put(ar)
	res := make(map[string]*tensor.Tensor, len(e.outputs))
	for i, r := range e.outputs {
		res[e.outName[i]] = vals[r.node][r.out]
	}
	return res, nil
}

func nodeRun(n *node, in, out []*tensor.Tensor, d time.Duration) NodeRun {
	r := NodeRun{Name: n.name(), Op: n.op(), Time: d}
	for _, t := range in {
		r.Inputs = append(r.Inputs, t.Shape)
	}
	if n.conv != nil {
		r.Inputs = [][]int{in[0].Shape, n.conv.f.Shape}
	}
	if len(out) > 0 && out[0] != nil {
		r.Output = out[0].Shape
	}
	return r
}

// runNode validates a node's inputs through its shape function, runs its
// kernel, and turns a kernel panic (a bug, never expected) into an error.
func runNode(n *node, in []*tensor.Tensor, ar *arena) (out []*tensor.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("%w: %s: %v", ErrInternal, n.desc(), p)
		}
	}()
	infos := make([]tinfo, len(in))
	for j, t := range in {
		infos[j] = infoOf(t)
	}
	oi, err := n.k.shape(infos)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.desc(), err)
	}
	if ar != nil { // a copy: a kernel may keep its shape result
		oi = append([]tinfo(nil), oi...)
		for j := range oi {
			oi[j].arena = ar
		}
	}
	out, err = n.k.run(in, oi)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.desc(), err)
	}
	if len(out) != n.k.nOut {
		return nil, fmt.Errorf("%w: %s produced %d outputs, want %d", ErrInternal, n.desc(), len(out), n.k.nOut)
	}
	return out, nil
}

// matchFeeds checks feeds against the placeholders: every Placeholder fed,
// no unknown names, dtypes and known dims as declared.
func (e *Engine) matchFeeds(feeds map[string]*tensor.Tensor) (map[int]*tensor.Tensor, error) {
	fed := make(map[int]*tensor.Tensor, len(feeds))
	for name, t := range feeds {
		base := strings.TrimSuffix(name, ":0")
		idx, ok := e.feeds[base]
		if !ok {
			return nil, fmt.Errorf("%w: %q is not an input of this graph (inputs: %s)", ErrFeed, name, strings.Join(e.Inputs(), ", "))
		}
		if t == nil {
			return nil, fmt.Errorf("%w: %q is nil", ErrFeed, name)
		}
		if err := checkFeed(e.nodes[idx], t); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrFeed, name, err)
		}
		fed[idx] = t
	}
	for name, idx := range e.feeds {
		if _, ok := fed[idx]; !ok && e.nodes[idx].op() == "Placeholder" {
			return nil, fmt.Errorf("%w: input %q was not fed", ErrFeed, name)
		}
	}
	return fed, nil
}

// checkFeed compares a feed with the placeholder's dtype and shape attrs
// and with the size of its own data.
func checkFeed(n *node, t *tensor.Tensor) error {
	a := attrs{n.def}
	if want := a.dtype("dtype", tensor.Invalid); want != tensor.Invalid && !sameStorage(want, t.DType) {
		return fmt.Errorf("dtype %s, want %s", t.DType, want)
	}
	if want, ok := a.shape("shape"); ok {
		if !shapeMatches(want, t.Shape) {
			return fmt.Errorf("shape %v, want %v (-1: any)", t.Shape, want)
		}
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
	}
	if err := checkData(t); err != nil {
		return err
	}
	return nil
}

// shapeMatches reports whether shape fits pattern (-1 matches any size).
func shapeMatches(pattern, shape []int) bool {
	if len(pattern) != len(shape) {
		return false
	}
	for i, d := range pattern {
		if d >= 0 && d != shape[i] {
			return false
		}
	}
	return true
}

// checkData verifies that a tensor's backing slice holds its shape.
func checkData(t *tensor.Tensor) error {
	n := t.Len()
	var have int
	switch storageOf(t.DType) {
	case stF32:
		have = len(t.F32)
	case stF64:
		have = len(t.F64)
	case stI32:
		have = len(t.I32)
	case stI64:
		have = len(t.I64)
	case stBool:
		have = len(t.B)
	case stString:
		have = len(t.S)
	default:
		return fmt.Errorf("dtype %s is not supported", t.DType)
	}
	if have != n {
		return fmt.Errorf("%d values for shape %v (%d elements)", have, t.Shape, n)
	}
	return nil
}
