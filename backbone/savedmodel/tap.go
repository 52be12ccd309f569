package savedmodel

import (
	"fmt"
	"sort"
	"strings"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/base/closest"
	"github.com/graft-ml/graft/internal/base/hint"
)

// TensorDesc describes one tappable tensor.
type TensorDesc struct {
	Name  string // flat tensor name "node:i", usable with Flatten
	Node  string // flat node name
	Inner string // name inside its function ("" for main-graph nodes)
	Op    string // op type as written in the model (variable reads included)
	DType tensor.DType
	// Layer is the name --tap accepts for the node's layer, which gives
	// the layer's last op ("" when no layer name leads back to it).
	Layer string
}

// Tensors lists every node output that a signature's outputs depend on,
// after inlining, in topological order.
func (m *Model) Tensors(signature string) ([]TensorDesc, error) {
	order, err := m.sigReach(signature)
	if err != nil {
		return nil, err
	}
	layers := m.layers(order)
	var out []TensorDesc
	for _, n := range order {
		dts := m.outputDTypes(n)
		for i := 0; i < m.numOutputs(n); i++ {
			dt := tensor.Invalid
			if i < len(dts) {
				dt = dts[i]
			}
			out = append(out, TensorDesc{Name: fmt.Sprintf("%s:%d", n.def.Name, i), Node: n.def.Name, Inner: n.inner, Op: n.def.Op, DType: dt, Layer: layers[n]})
		}
	}
	return out, nil
}

func (m *Model) sigReach(signature string) ([]*flatNode, error) {
	s, err := m.Signature(signature)
	if err != nil {
		return nil, err
	}
	fetches, feeds := sigTensors(s)
	f, err := m.newFlattener(feeds)
	if err != nil {
		return nil, err
	}
	order, _, err := f.reach(fetches)
	return order, err
}

// ResolveTensor turns a user's tap name into a flat tensor name ("node:i")
// for Flatten. It accepts, in this order:
//   - a flat tensor or node name ("node:1", "node", a signature output);
//   - a node inside a function reached from the signature, by its inner
//     name or any "/"-suffix of its flat name ("sequential/conv2d/Relu",
//     "conv2d/Relu");
//   - a Keras layer name ("conv2d_1"): the last op, in topological order,
//     of the layer's name scope.
//
// An unknown name yields an error wrapping ErrUnknownTensor with the
// closest existing names.
func (m *Model) ResolveTensor(signature, name string) (string, error) {
	order, err := m.sigReach(signature)
	if err != nil {
		return "", err
	}
	n, idx, err := m.resolveIn(newTapIndex(order), name)
	if err != nil {
		return "", err
	}
	if n == nil {
		return "", hint.With(fmt.Errorf("%w: %q is not a tensor reachable from signature %q; closest: %s",
			ErrUnknownTensor, name, sigName(signature), strings.Join(m.closest(order, strings.SplitN(name, ":", 2)[0], 5), ", ")), "graft inspect --tensors MODEL lists the tensors and layers you can tap")
	}
	return fmt.Sprintf("%s:%d", n.def.Name, idx), nil
}

// tapIndex holds the signature's nodes, in topological order, as the
// resolver looks them up: built in one pass, it resolves any number of
// names (inspect checks a name for every layer).
type tapIndex struct {
	order []*flatNode
	pos   map[*flatNode]int
	// named lists the nodes by inner name and by the last part of their
	// flat name, each in topological order.
	named map[string][]*flatNode
	// lastIn is each scope's last computing node (no constant, no
	// variable read): a scope is any part of a flat name but the last.
	lastIn map[string]*flatNode
}

func newTapIndex(order []*flatNode) *tapIndex {
	ix := &tapIndex{order: order, pos: map[*flatNode]int{}, named: map[string][]*flatNode{}, lastIn: map[string]*flatNode{}}
	for i, n := range order {
		ix.pos[n] = i
		parts := strings.Split(n.def.Name, "/")
		last := parts[len(parts)-1]
		ix.named[last] = append(ix.named[last], n)
		if n.inner != "" && n.inner != last {
			ix.named[n.inner] = append(ix.named[n.inner], n)
		}
		if n.def.Op == "Const" || isVarRead(n.def.Op) {
			continue
		}
		for _, p := range parts[:len(parts)-1] {
			ix.lastIn[p] = n
		}
	}
	return ix
}

// resolveIn is ResolveTensor's lookup: the node and output index name
// stands for, or a nil node when nothing matches.
func (m *Model) resolveIn(ix *tapIndex, name string) (*flatNode, int, error) {
	base, idx := name, 0
	if b, i, err := parseTensorName(name); err == nil {
		base, idx = b, i
	}
	pick := func(n *flatNode, k int) (*flatNode, int, error) {
		if k >= m.numOutputs(n) {
			return nil, 0, fmt.Errorf("%w: %q: node %s (%s) has %d outputs", ErrUnknownTensor, name, n.def.Name, n.def.Op, m.numOutputs(n))
		}
		return n, k, nil
	}
	// 1. Flat name (any node or call output of the main graph).
	if n, k, err := m.flat.resolve(fmt.Sprintf("%s:%d", base, idx)); err == nil {
		return pick(n, k)
	}
	// 2. Inner name or name suffix among reachable nodes.
	var hits []*flatNode
	if strings.Contains(base, "/") {
		for _, n := range ix.order {
			if n.inner == base || strings.HasSuffix(n.def.Name, "/"+base) {
				hits = append(hits, n)
			}
		}
	} else {
		for _, n := range ix.named[base] {
			// The last part of a name that is all of it is no suffix.
			if n.inner == base || strings.Contains(n.def.Name, "/") {
				hits = append(hits, n)
			}
		}
	}
	switch {
	case len(hits) == 1:
		return pick(hits[0], idx)
	case len(hits) > 1:
		var names []string
		for _, h := range hits {
			names = append(names, h.def.Name)
		}
		return nil, 0, fmt.Errorf("%w: %q is ambiguous, it matches %s", ErrUnknownTensor, name, strings.Join(firstN(names, 5), ", "))
	}
	// 3. Keras layer name scope: the last matching op in topological order.
	// Keras 3's export traces every layer under a uniquified scope
	// ("block_5_project_BN_1" for layer block_5_project_BN), so that
	// spelling is tried when the layer's own name is no scope at all.
	if !strings.Contains(base, "/") {
		for _, scope := range []string{base, base + "_1"} {
			if n := ix.lastIn[scope]; n != nil {
				return pick(n, idx)
			}
		}
	}
	return nil, 0, nil
}

// layers names each node's layer as --tap accepts it. The layer is the
// first scope of the node's name that is no model: function-call scopes
// and containers (scopes holding two or more scopes that each occur once
// in the graph, as a Keras model holds its layers, nested or not, or
// wrapping one such scope alone) are passed over, so that a TF1 graph's
// "sequential_1/mobilenetv2/out_relu/Relu6" is in out_relu, not
// sequential_1. A node under no such scope is its own
// layer ("Conv1_relu" in a frozen graph). Every name is checked by the
// resolver itself: it must lead back to this node or into the same scope,
// else the node gets none.
func (m *Model) layers(order []*flatNode) map[*flatNode]string {
	// A node's scopes, function calls left out: what a model's layers
	// are under, whether a nested model was inlined from a call or not.
	type scope struct {
		name, path string // path: the scopes above and this one, by name
		end        int    // where the scope ends in the node's name
	}
	scopesOf := func(name string) []scope {
		var out []scope
		path := ""
		for i := 0; ; {
			j := strings.IndexByte(name[i:], '/')
			if j < 0 {
				return out
			}
			if p := name[i : i+j]; !strings.Contains(p, "PartitionedCall") {
				path += "/" + p
				out = append(out, scope{p, path, i + j})
			}
			i += j + 1
		}
	}
	paths := map[string]map[string]bool{}    // scope -> the paths it occurs at
	children := map[string]map[string]bool{} // path -> the scopes directly under it
	ops := map[string]bool{}                 // path -> whether ops lie directly in it
	for _, n := range order {
		sc := scopesOf(n.def.Name)
		for i, c := range sc {
			addTo(paths, c.name, c.path)
			if i > 0 {
				addTo(children, sc[i-1].path, c.name)
			}
		}
		if len(sc) > 0 {
			ops[sc[len(sc)-1].path] = true
		}
	}
	// A container holds two or more layers, or wraps just one (a
	// Sequential around a pretrained model and nothing else).
	isContainer := map[string]bool{}
	for path, cs := range children {
		unique := 0
		for c := range cs {
			if len(paths[c]) == 1 {
				unique++
			}
		}
		isContainer[path] = unique >= 2 || unique == 1 && len(cs) == 1 && !ops[path]
	}
	ix := newTapIndex(order)
	checked := map[string]bool{} // a candidate's name up to it -> whether --tap accepts it
	out := map[*flatNode]string{}
	for _, n := range order {
		if n.def.Op == "Placeholder" {
			continue // the input
		}
		name := n.def.Name
		cand, prefix := name[strings.LastIndexByte(name, '/')+1:], name
		for _, c := range scopesOf(name) {
			if !isContainer[c.path] {
				cand, prefix = c.name, name[:c.end]
				break
			}
		}
		ok, seen := checked[prefix]
		if !seen {
			r, _, err := m.resolveIn(ix, cand)
			ok = err == nil && r != nil && (r.def.Name == prefix || strings.HasPrefix(r.def.Name, prefix+"/"))
			checked[prefix] = ok
		}
		if ok {
			out[n] = cand
		}
	}
	return out
}

func addTo(m map[string]map[string]bool, k, v string) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][v] = true
}

func sigName(s string) string {
	if s == "" {
		return "serving_default"
	}
	return s
}

// closest ranks node names, inner names and layer scopes by edit distance.
func (m *Model) closest(order []*flatNode, name string, k int) []string {
	cand := map[string]int{}
	add := func(c string) {
		if c == "" {
			return
		}
		if _, ok := cand[c]; !ok {
			cand[c] = closest.Distance(name, c)
		}
	}
	for _, n := range order {
		add(n.def.Name)
		add(n.inner)
		parts := strings.Split(n.def.Name, "/")
		for _, p := range parts[:len(parts)-1] {
			if !strings.Contains(p, "PartitionedCall") {
				add(p)
			}
		}
	}
	names := sortedKeys(cand)
	sort.SliceStable(names, func(i, j int) bool { return cand[names[i]] < cand[names[j]] })
	return names[:min(k, len(names))]
}
