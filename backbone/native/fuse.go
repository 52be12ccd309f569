package native

import (
	"math"
	"slices"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
)

// optimize rewrites a compiled, pruned engine for speed: it folds nodes
// whose inputs are all constants, then folds the per-channel affine ops
// that follow a convolution (batch norm, bias, scale, shift), its
// activation and a residual add into one fused convolution, and drops the
// nodes nothing reads any more. Every rewrite keeps what the engine's
// outputs compute up to float32 rounding, and never absorbs a tensor that
// is fetched or read by another node, so every tap stays observable.
func (e *Engine) optimize() {
	e.foldConstants()
	e.fuseConvs()
	e.fuseSqueezeExcite()
	e.fuseChannelAffine()
	e.packMatMuls()
	e.compact()
}

// packMatMuls packs the constant B of each MatMul (a Dense layer's
// kernel) once, transposed first where transpose_b says so. The node keeps
// its inputs: the kernel just no longer reads B.
func (e *Engine) packMatMuls() {
	for _, n := range e.nodes {
		if n.op() != "MatMul" || n.k == nil || len(n.inputs) != 2 {
			continue
		}
		a := attrs{n.def}
		ta, tb := a.bool("transpose_a", false), a.bool("transpose_b", false)
		b := e.nodes[n.inputs[1].node].konst
		if ta || b == nil || b.DType != tensor.Float32 || len(b.Shape) != 2 || len(b.F32) != b.Len() || b.Len() == 0 {
			continue
		}
		k, nn, w := b.Shape[0], b.Shape[1], b.F32
		if tb {
			k, nn = nn, k
			w = make([]float32, len(b.F32))
			for i := range k {
				for j := range nn {
					w[i*nn+j] = b.F32[j*k+i]
				}
			}
		}
		n.k = matMulKernel(ta, tb, gemm.PackB(k, nn, w, nn))
	}
}

// constKernel serves a fixed value, as a Const node's kernel does.
func constKernel(v *tensor.Tensor) *kernel {
	return &kernel{
		nOut:  1,
		shape: func([]tinfo) ([]tinfo, error) { return []tinfo{{dtype: v.DType, shape: v.Shape, value: v}}, nil },
		run:   func([]*tensor.Tensor, []tinfo) ([]*tensor.Tensor, error) { return []*tensor.Tensor{v}, nil },
	}
}

// foldConstants evaluates once, at load, every single-output node whose
// inputs are all constant (Keras 3 writes batch norm as Rsqrt, Mul and Sub
// on its variables, which would otherwise run on every batch). A node whose
// evaluation fails is left alone, so that Run reports the error as before.
func (e *Engine) foldConstants() {
	for _, n := range e.nodes {
		if n.op() == "Const" {
			if out, err := n.k.run(nil, nil); err == nil {
				n.konst = out[0]
			}
			continue
		}
		if n.isFeed() || len(n.inputs) == 0 || n.k.nOut != 1 {
			continue
		}
		in := make([]*tensor.Tensor, len(n.inputs))
		for j, r := range n.inputs {
			if in[j] = e.nodes[r.node].konst; in[j] == nil || r.out != 0 {
				in = nil
				break
			}
		}
		if in == nil {
			continue
		}
		out, err := runNode(n, in, nil)
		if err != nil {
			continue
		}
		n.konst = out[0]
		n.k = constKernel(out[0])
		for _, r := range n.inputs {
			e.nodes[r.node].uses[r.out]--
		}
		n.inputs = nil
	}
}

// use is one reader of a tensor: node and input position.
type use struct{ node, pos int }

// readers lists, per node and output, the nodes that read it, and marks
// the outputs the engine fetches.
func (e *Engine) readers() ([][][]use, [][]bool) {
	rd := make([][][]use, len(e.nodes))
	fetched := make([][]bool, len(e.nodes))
	for i, n := range e.nodes {
		if n.k != nil {
			rd[i] = make([][]use, n.k.nOut)
			fetched[i] = make([]bool, n.k.nOut)
		}
	}
	for i, n := range e.nodes {
		for p, r := range n.inputs {
			rd[r.node][r.out] = append(rd[r.node][r.out], use{i, p})
		}
	}
	for _, r := range e.outputs {
		fetched[r.node][r.out] = true
	}
	return rd, fetched
}

// fuseConvs replaces each convolution with a constant filter and the chain
// of ops that only it feeds (see fusion.absorb) by one fused node, which
// takes the chain's last node's place and name, and packs its filter once.
func (e *Engine) fuseConvs() {
	rd, fetched := e.readers()
	// taken marks the nodes already rewritten (absorbed, or fused in
	// place): rd still names them as readers, but they are no longer the
	// op rd saw, so no chain may go through them.
	taken := make([]bool, len(e.nodes))
	for i, n := range e.nodes {
		op := n.op()
		// A fused node keeps its convolution's op but has no filter input.
		if (op != "Conv2D" && op != "DepthwiseConv2dNative") || n.k == nil || len(n.inputs) != 2 || n.conv != nil {
			continue
		}
		f := e.nodes[n.inputs[1].node].konst
		if f == nil || f.DType != tensor.Float32 || len(f.Shape) != 4 || len(f.F32) != f.Len() {
			continue
		}
		fu := newFusion(f, op == "DepthwiseConv2dNative")
		x := n.inputs[0]
		pad, padded := e.foldablePad(n, rd, fetched)
		if padded {
			fu.pad, x = e.padAmounts(pad), e.nodes[pad].inputs[0]
		}
		cur := i
		var chain []int
		for {
			if fu.act == actNone && !fu.hasResid {
				if beta, nodes, ok := e.swishTail(rd, fetched, taken, cur); ok {
					fu.act, fu.beta = actSwish, beta
					chain = append(chain, nodes...)
					cur = nodes[len(nodes)-1]
					break
				}
			}
			// Only a tensor that exactly one node reads, and nobody
			// fetches, may disappear into the fused node.
			if fetched[cur][0] || len(rd[cur][0]) != 1 || slices.Contains(fetched[cur][1:], true) {
				break
			}
			for _, r := range rd[cur][1:] {
				if len(r) > 0 {
					goto done
				}
			}
			{
				u := rd[cur][0][0]
				if taken[u.node] || !fu.absorb(e, e.nodes[u.node], u.pos) {
					break
				}
				chain = append(chain, u.node)
				cur = u.node
			}
		}
	done:
		// With nothing to absorb the convolution is still rebuilt, so that
		// its filter is packed once.
		last := e.nodes[cur]
		k, spec, err := fu.kernel(n.def)
		if err != nil {
			continue
		}
		// The consts the chain read lose a reader; x and the residual
		// move to the fused node unchanged.
		for _, j := range append([]int{i}, chain...) {
			for p, r := range e.nodes[j].inputs {
				if j == i && p == 0 {
					continue
				}
				if slices.Contains(chain, r.node) || r.node == i {
					continue
				}
				if fu.hasResid && r == fu.resid {
					continue
				}
				e.nodes[r.node].uses[r.out]--
			}
		}
		if padded {
			p := e.nodes[pad]
			e.nodes[p.inputs[1].node].uses[p.inputs[1].out]--
			p.inputs = nil
			clear(p.uses)
		}
		def := proto.Clone(n.def).(*framework.NodeDef)
		def.Name = last.name()
		inputs := []ref{x}
		if fu.hasResid {
			inputs = append(inputs, fu.resid)
		}
		if len(chain) > 0 {
			for _, j := range append([]int{i}, chain[:len(chain)-1]...) {
				dead := e.nodes[j]
				dead.inputs = nil
				clear(dead.uses)
			}
			last.fused = n.name()
		}
		taken[i] = true
		for _, j := range chain {
			taken[j] = true
		}
		last.def, last.k, last.inputs = def, k, inputs
		last.uses = last.uses[:1]
		last.conv = spec
	}
}

// compact drops the nodes whose outputs nobody reads or fetches any more
// (placeholders stay: callers feed them by name) and renumbers references.
func (e *Engine) compact() {
	keep := make([]bool, len(e.nodes))
	for i := len(e.nodes) - 1; i >= 0; i-- {
		n := e.nodes[i]
		for _, u := range n.uses {
			if u > 0 {
				keep[i] = true
			}
		}
		if n.isFeed() {
			keep[i] = true
		}
		if !keep[i] {
			for _, r := range n.inputs {
				e.nodes[r.node].uses[r.out]--
			}
		}
	}
	newIdx := make([]int, len(e.nodes))
	var nodes []*node
	for i, n := range e.nodes {
		newIdx[i] = -1
		if keep[i] {
			newIdx[i] = len(nodes)
			nodes = append(nodes, n)
		}
	}
	e.nodes = nodes
	e.byName = make(map[string]int, len(nodes))
	e.feeds = map[string]int{}
	for i, n := range nodes {
		e.byName[n.name()] = i
		for j := range n.inputs {
			n.inputs[j].node = newIdx[n.inputs[j].node]
		}
		if n.isFeed() {
			e.feeds[n.name()] = i
		}
	}
	for i := range e.outputs {
		e.outputs[i].node = newIdx[e.outputs[i].node]
	}
}

// fusion accumulates what a convolution's epilogue applies: with s and b
// per output channel, y = act(conv(x, f*s) + b + resid).
type fusion struct {
	f         *tensor.Tensor
	depthwise bool
	o         int
	scale     []float32 // nil: all ones
	bias      []float32 // nil: all zeros
	act       actKind
	beta      float32 // swish's: y = x*sigmoid(beta*x)
	hasResid  bool
	resid     ref
	pad       *[4]int // a folded Pad's top, bottom, left, right
}

func newFusion(f *tensor.Tensor, depthwise bool) *fusion {
	o := f.Shape[3]
	if depthwise {
		o = f.Shape[2] * f.Shape[3]
	}
	return &fusion{f: f, depthwise: depthwise, o: o}
}

// channelConst returns the values of a float32 constant that broadcasts
// along the output channels only ([O], [1, O], [1, 1, 1, O], [1] or a
// scalar), expanded to O values; nil for anything else.
func (fu *fusion) channelConst(t *tensor.Tensor) []float32 {
	if t == nil || t.DType != tensor.Float32 || len(t.Shape) > 4 || len(t.F32) != t.Len() {
		return nil
	}
	for i, d := range t.Shape {
		if d != 1 && (i != len(t.Shape)-1 || d != fu.o) {
			return nil
		}
	}
	v := make([]float32, fu.o)
	for j := range v {
		v[j] = t.F32[j%len(t.F32)]
	}
	return v
}

// absorb tries to fold node n, which reads the chain's current tensor at
// input pos, into the fusion; false when n's op or operands don't fit
// exactly. The order is fixed: affine ops, then a residual add, then one
// activation, after which nothing more is absorbed.
func (fu *fusion) absorb(e *Engine, n *node, pos int) bool {
	if fu.act != actNone {
		return false
	}
	other := func() (ref, *tensor.Tensor) {
		r := n.inputs[1-pos]
		return r, e.nodes[r.node].konst
	}
	switch n.op() {
	case "BiasAdd", "BiasAddV1":
		if pos != 0 || fu.hasResid {
			return false
		}
		_, c := other()
		b := fu.channelConst(c)
		if b == nil || len(c.Shape) != 1 {
			return false
		}
		fu.addBias(b, 1)
	case "Add", "AddV2":
		r, c := other()
		if c == nil {
			if fu.hasResid || r.node == n.inputs[pos].node && r.out == n.inputs[pos].out {
				return false
			}
			fu.hasResid, fu.resid = true, r
			return true
		}
		b := fu.channelConst(c)
		if b == nil || fu.hasResid {
			return false
		}
		fu.addBias(b, 1)
	case "Sub":
		_, c := other()
		b := fu.channelConst(c)
		if b == nil || pos != 0 || fu.hasResid {
			return false
		}
		fu.addBias(b, -1)
	case "Mul":
		_, c := other()
		s := fu.channelConst(c)
		if s == nil || fu.hasResid {
			return false
		}
		fu.mulScale(s)
	case "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3":
		if pos != 0 || fu.hasResid || (attrs{n.def}).bool("is_training", true) {
			return false
		}
		var p [4][]float32
		for j := range p {
			c := e.nodes[n.inputs[1+j].node].konst
			if p[j] = fu.channelConst(c); p[j] == nil || len(c.Shape) != 1 {
				return false
			}
		}
		eps := float64((attrs{n.def}).float("epsilon", 1e-4))
		s, b := make([]float32, fu.o), make([]float32, fu.o)
		for j := range s {
			// As the unfused kernel computes it, so that the two agree
			// to rounding.
			s[j] = p[0][j] / float32(math.Sqrt(float64(p[3][j])+eps))
			b[j] = p[1][j] - p[2][j]*s[j]
		}
		fu.mulScale(s)
		fu.addBias(b, 1)
	case "Relu":
		fu.act = actRelu
	case "Relu6":
		fu.act = actRelu6
	case "Sigmoid":
		fu.act = actSigmoid
	default:
		return false
	}
	return true
}

func (fu *fusion) addBias(b []float32, sign float32) {
	if fu.bias == nil {
		fu.bias = make([]float32, fu.o)
	}
	for j, v := range b {
		fu.bias[j] += sign * v
	}
}

func (fu *fusion) mulScale(s []float32) {
	if fu.scale == nil {
		fu.scale = make([]float32, fu.o)
		for j := range fu.scale {
			fu.scale[j] = 1
		}
	}
	for j, v := range s {
		fu.scale[j] *= v
		if fu.bias != nil {
			fu.bias[j] *= v
		}
	}
}

// convSpec is what a fused convolution computes, kept on its node for
// later fusions (fuseSqueezeExcite folds a scale into its filter).
type convSpec struct {
	w     window
	f     *tensor.Tensor // the filter, the fused scale applied
	dw    bool
	ep    epilogue
	resid bool
}

// pointwise reports whether cs is a 1x1 Conv2D padded SAME or VALID (no
// explicit padding).
func (cs *convSpec) pointwise() bool {
	return !cs.dw && cs.f.Shape[0] == 1 && cs.f.Shape[1] == 1 && (cs.w.mode == "SAME" || cs.w.mode == "VALID")
}

// kernel compiles the fused node: the convolution of def with the scaled
// filter and the epilogue.
func (fu *fusion) kernel(def *framework.NodeDef) (*kernel, *convSpec, error) {
	w, err := parseWindow(attrs{def}, true)
	if err != nil {
		return nil, nil, err
	}
	if fu.pad != nil {
		if w.mode == "VALID" {
			w.explicit = [4]int{}
		}
		w.mode = "EXPLICIT"
		for j, p := range fu.pad {
			w.explicit[j] += p
		}
	}
	f := fu.f
	if fu.scale != nil {
		f = tensor.New(tensor.Float32, fu.f.Shape...)
		for i, v := range fu.f.F32 {
			f.F32[i] = v * fu.scale[i%fu.o]
		}
	}
	spec := &convSpec{w: w, f: f, dw: fu.depthwise, ep: epilogue{bias: fu.bias, act: fu.act, beta: fu.beta}, resid: fu.hasResid}
	return fusedConvKernel(spec), spec, nil
}

// swishTail recognises y = t*sigmoid(beta*t) on node cur's output t, as
// Keras writes swish: Keras 3 as Mul(beta, t), Sigmoid, Mul(t, s) and an
// IdentityN(y, t, beta) for its custom gradient; tf-keras as Sigmoid(t),
// Mul(t, s). Every node in it must be read only inside the pattern (the
// IdentityN only at output 0) and nothing but y fetched. It returns beta
// and the pattern's nodes, the one that outputs y last.
func (e *Engine) swishTail(rd [][][]use, fetched [][]bool, taken []bool, cur int) (float32, []int, bool) {
	quiet := func(n int) bool { // nobody reads or fetches n's outputs but the first
		for j, r := range rd[n][1:] {
			if len(r) > 0 || fetched[n][1+j] {
				return false
			}
		}
		return true
	}
	only := func(n int, want ...int) bool { // n's output 0 is read by want alone, unfetched; the others quiet
		if fetched[n][0] || len(rd[n][0]) != len(want) || !quiet(n) {
			return false
		}
		for _, u := range rd[n][0] {
			if !slices.Contains(want, u.node) {
				return false
			}
		}
		return true
	}
	var scaled, sig, mul, idn = -1, -1, -1, -1
	beta := float32(1)
	for _, u := range rd[cur][0] {
		if taken[u.node] {
			return 0, nil, false
		}
		n := e.nodes[u.node]
		switch n.op() {
		case "Sigmoid":
			sig = u.node
		case "IdentityN":
			idn = u.node
		case "Mul":
			o := e.nodes[n.inputs[1-u.pos].node]
			if c := o.konst; c != nil && c.DType == tensor.Float32 && c.Len() == 1 && len(c.Shape) <= 1 && len(c.F32) == 1 {
				scaled, beta = u.node, c.F32[0]
			} else {
				mul = u.node
			}
		}
	}
	if scaled >= 0 {
		if sig >= 0 || len(rd[scaled][0]) != 1 {
			return 0, nil, false
		}
		sig = rd[scaled][0][0].node
		if e.nodes[sig].op() != "Sigmoid" || !only(scaled, sig) {
			return 0, nil, false
		}
	}
	if sig < 0 || mul < 0 || !only(sig, mul) {
		return 0, nil, false
	}
	// mul must be t * sigmoid, in either order.
	t, s := ref{cur, 0}, ref{sig, 0}
	if in := e.nodes[mul].inputs; !(in[0] == t && in[1] == s) && !(in[0] == s && in[1] == t) {
		return 0, nil, false
	}
	want := []int{sig, mul}
	if scaled >= 0 {
		want = []int{scaled, mul}
	}
	nodes := []int{sig, mul}
	if scaled >= 0 {
		nodes = []int{scaled, sig, mul}
	}
	if idn >= 0 {
		n := e.nodes[idn]
		if len(n.inputs) < 2 || n.inputs[0] != (ref{mul, 0}) || n.inputs[1] != t || !only(mul, idn) || !quiet(idn) {
			return 0, nil, false
		}
		for _, r := range n.inputs[2:] {
			if e.nodes[r.node].konst == nil {
				return 0, nil, false
			}
		}
		want = append(want, idn)
		nodes = append(nodes, idn)
	}
	if !only(cur, want...) {
		return 0, nil, false
	}
	return beta, nodes, true
}

// foldablePad finds the Pad that feeds convolution n and that the
// convolution can take over as its own padding: zeros (Pad, not PadV2 or
// MirrorPad), constant amounts on H and W only, read by n alone and not
// fetched, n padding VALID or EXPLICIT (Keras's ZeroPadding2D before a
// strided convolution).
func (e *Engine) foldablePad(n *node, rd [][][]use, fetched [][]bool) (int, bool) {
	r := n.inputs[0]
	p := e.nodes[r.node]
	if p.op() != "Pad" || r.out != 0 || fetched[r.node][0] || len(rd[r.node][0]) != 1 || len(p.inputs) != 2 {
		return 0, false
	}
	if m := (attrs{n.def}).str("padding", ""); m != "VALID" && m != "EXPLICIT" {
		return 0, false
	}
	c := e.nodes[p.inputs[1].node].konst
	if c == nil || !sameShape(c.Shape, []int{4, 2}) {
		return 0, false
	}
	for i := range 8 {
		v := padAt(c, i)
		if v < 0 || (v != 0 && (i < 2 || i >= 6)) {
			return 0, false
		}
	}
	return r.node, true
}

// padAmounts reads a foldable Pad's H and W amounts.
func (e *Engine) padAmounts(pad int) *[4]int {
	c := e.nodes[e.nodes[pad].inputs[1].node].konst
	return &[4]int{int(padAt(c, 2)), int(padAt(c, 3)), int(padAt(c, 4)), int(padAt(c, 5))}
}

// padAt is value i of an int32 or int64 paddings tensor (-1 otherwise).
func padAt(c *tensor.Tensor, i int) int64 {
	switch {
	case c.DType == tensor.Int32 && len(c.I32) == 8:
		return int64(c.I32[i])
	case c.DType == tensor.Int64 && len(c.I64) == 8:
		return c.I64[i]
	}
	return -1
}
