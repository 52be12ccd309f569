package savedmodel

import (
	"fmt"
	"sort"
	"strings"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/closest"
	"github.com/graft-ml/graft/internal/hint"
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
	n, idx, err := m.resolveIn(order, name)
	if err != nil {
		return "", err
	}
	if n == nil {
		return "", hint.With(fmt.Errorf("%w: %q is not a tensor reachable from signature %q; closest: %s",
			ErrUnknownTensor, name, sigName(signature), strings.Join(m.closest(order, strings.SplitN(name, ":", 2)[0], 5), ", ")), "graft inspect --tensors MODEL lists the tensors and layers you can tap")
	}
	return fmt.Sprintf("%s:%d", n.def.Name, idx), nil
}

// resolveIn is ResolveTensor's lookup among the signature's nodes in
// topological order: the node and output index name stands for, or a nil
// node when nothing matches.
func (m *Model) resolveIn(order []*flatNode, name string) (*flatNode, int, error) {
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
	for _, n := range order {
		if n.inner == base || strings.HasSuffix(n.def.Name, "/"+base) {
			hits = append(hits, n)
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
			if n := lastInScope(order, scope); n != nil {
				return pick(n, idx)
			}
		}
	}
	return nil, 0, nil
}

// layers names each node's layer as --tap accepts it. The layer is the
// first scope of the node's name that is no model: function-call scopes
// and containers (scopes holding two or more scopes that each occur once
// in the graph, as a Keras model holds its layers, nested or not) are
// passed over, so that a TF1 graph's "sequential_1/mobilenetv2/out_relu/Relu6"
// is in out_relu, not sequential_1. A node under no such scope is its own
// layer ("Conv1_relu" in a frozen graph). Every name is checked by the
// resolver itself: it must lead back to this node or into the same scope,
// else the node gets none.
func (m *Model) layers(order []*flatNode) map[*flatNode]string {
	paths := map[string]map[string]bool{}    // scope -> the paths it occurs at
	children := map[string]map[string]bool{} // path -> the scopes directly under it
	for _, n := range order {
		parts := strings.Split(n.def.Name, "/")
		for i, p := range parts[:len(parts)-1] {
			path := strings.Join(parts[:i+1], "/")
			addTo(paths, p, path)
			if i > 0 {
				addTo(children, strings.Join(parts[:i], "/"), p)
			}
		}
	}
	container := func(path string) bool {
		unique := 0
		for c := range children[path] {
			if len(paths[c]) == 1 {
				unique++
			}
		}
		return unique >= 2
	}
	checked := map[string]bool{} // path of a candidate -> whether --tap accepts it
	out := map[*flatNode]string{}
	for _, n := range order {
		if n.def.Op == "Placeholder" || n.def.Op == "Identity" && !strings.Contains(n.def.Name, "/") {
			continue // the input, and the signature's outputs forwarding a layer's
		}
		parts := strings.Split(n.def.Name, "/")
		cand, at := parts[len(parts)-1], len(parts)-1
		for i, p := range parts[:len(parts)-1] {
			if !strings.Contains(p, "PartitionedCall") && !container(strings.Join(parts[:i+1], "/")) {
				cand, at = p, i
				break
			}
		}
		path := strings.Join(parts[:at+1], "/")
		ok, seen := checked[path]
		if !seen {
			r, _, err := m.resolveIn(order, cand)
			ok = err == nil && r != nil && (r.def.Name == path || strings.HasPrefix(r.def.Name, path+"/"))
			checked[path] = ok
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

// lastInScope is the last computing node (no constant, no variable read)
// with scope as one of its name's scopes, or nil.
func lastInScope(order []*flatNode, scope string) *flatNode {
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if n.def.Op == "Const" || isVarRead(n.def.Op) {
			continue
		}
		// scope is one of the name's scopes, without splitting it
		if strings.HasPrefix(n.def.Name, scope+"/") || strings.Contains(n.def.Name, "/"+scope+"/") {
			return n
		}
	}
	return nil
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
