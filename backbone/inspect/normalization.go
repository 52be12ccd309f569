package inspect

import (
	"context"
	"fmt"
	"math"
	"strings"

	"go.uber.org/zap"

	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
)

// Preprocessing modes this file picks between (internal/data/images names
// them; backbone packages do not import it). Auto asks for the pick.
const (
	Auto = "auto"
	raw  = "raw"
	unit = "unit"
)

// Normalization is the arithmetic a graph applies to its image input
// before anything else: a chain of Mul, RealDiv, Add, Sub (and Cast,
// Identity) by constants, as a Keras Rescaling or Normalization layer, a
// Lambda or a TF1 graph's input scaling write it, folded into
// out = Scale*x + Offset per channel (one value: every channel).
type Normalization struct {
	// Nodes are the chain's nodes, input first; empty when the input goes
	// straight into a layer with weights (or anything else).
	Nodes  []string  `json:"nodes,omitempty"`
	Scale  []float64 `json:"scale,omitempty"`
	Offset []float64 `json:"offset,omitempty"`
	// Expects is the input range the chain maps onto a normalised range
	// (span between 0.5 and 10: [0, 1], [-1, 1], standardised): "raw"
	// (0..255) or "unit" (0..1); "" when there is no chain or it fits
	// neither.
	Expects string `json:"expects,omitempty"`
	// GraftExport is set for a model written by graft export, whose graph
	// holds the run's whole preprocessing (a per-channel mean, a channel
	// swap, ...) and so takes raw pixels whatever the chain looks like.
	GraftExport bool `json:"graft_export,omitempty"`
}

// ExportPreprocessNode ends the preprocessing graft export writes in front
// of the backbone (under the function scopes inlining adds).
const ExportPreprocessNode = "graft/preprocess/Identity"

// Found reports whether the graph normalises its input itself.
func (n Normalization) Found() bool { return len(n.Nodes) > 0 }

// String describes the chain, e.g. "x*0.003922+0 (sequential/rescaling/mul,
// sequential/rescaling/add)".
func (n Normalization) String() string {
	if !n.Found() {
		return "none: the input goes straight into the network"
	}
	if n.GraftExport {
		return fmt.Sprintf("graft export (%s): expects raw pixels 0..255", n.Nodes[len(n.Nodes)-1])
	}
	f := func(v []float64) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprintf("%.4g", x)
		}
		if len(parts) == 1 {
			return parts[0]
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	s := fmt.Sprintf("x*%s%+s (%s)", f(n.Scale), f(n.Offset), strings.Join(n.Nodes, ", "))
	if len(n.Offset) == 1 && n.Offset[0] >= 0 {
		s = fmt.Sprintf("x*%s+%s (%s)", f(n.Scale), f(n.Offset), strings.Join(n.Nodes, ", "))
	}
	switch n.Expects {
	case raw:
		return s + ": expects raw pixels 0..255"
	case unit:
		return s + ": expects pixels in [0, 1]"
	}
	return s + ": maps neither 0..255 nor 0..1 onto a normalised range"
}

// DetectNormalization folds the constant arithmetic at the head of g's
// only input. Shape-only consumers (Shape, Size, Rank) are ignored; the
// chain ends at the first node that is not affine in the input with a
// constant operand, or where the input fans out.
func DetectNormalization(g *savedmodel.Graph) Normalization {
	var n Normalization
	if len(g.Inputs) != 1 {
		return n
	}
	nodes := map[string]*ndpb.NodeDef{}
	users := map[string][]*ndpb.NodeDef{}
	for _, nd := range g.Nodes {
		nodes[nd.Name] = nd
		for _, in := range nd.Input {
			users[in] = append(users[in], nd)
		}
	}
	consumers := func(node string) []*ndpb.NodeDef {
		var out []*ndpb.NodeDef
		for _, ref := range []string{node, node + ":0"} {
			for _, u := range users[ref] {
				switch u.Op {
				case "Shape", "ShapeN", "Size", "Rank":
				default:
					out = append(out, u)
				}
			}
		}
		return out
	}
	for _, nd := range g.Nodes {
		if nd.Name == ExportPreprocessNode || strings.HasSuffix(nd.Name, "/"+ExportPreprocessNode) {
			return Normalization{Nodes: []string{nd.Name}, Scale: []float64{1}, Offset: []float64{0}, Expects: raw, GraftExport: true}
		}
	}
	scale, offset := []float64{1}, []float64{0}
	cur := g.Inputs[0]
	for {
		next := consumers(cur)
		if len(next) != 1 {
			break
		}
		nd := next[0]
		if !step(g, nodes, nd, cur, &scale, &offset) {
			break
		}
		if nd.Op != "Identity" && nd.Op != "Cast" {
			n.Nodes = append(n.Nodes, nd.Name)
		}
		cur = nd.Name
	}
	if !n.Found() {
		return n
	}
	n.Scale, n.Offset = scale, offset
	for _, mode := range []struct {
		name string
		top  float64 // the input range's upper end
	}{{raw, 255}, {unit, 1}} {
		ok := true
		for _, a := range scale {
			span := math.Abs(a) * mode.top
			ok = ok && span >= 0.5 && span <= 10
		}
		if ok {
			n.Expects = mode.name
		}
	}
	return n
}

// step folds node nd, which reads cur, into (scale, offset); it reports
// false when nd is not x*c, x/c, x+c, x-c, c-x, c+x, c*x, a float Cast or
// an Identity with c a constant of one value or one per channel.
func step(g *savedmodel.Graph, nodes map[string]*ndpb.NodeDef, nd *ndpb.NodeDef, cur string, scale, offset *[]float64) bool {
	switch nd.Op {
	case "Identity":
		return len(nd.Input) == 1
	case "Cast":
		// uint8 -> float keeps the values; anything else is not a plain
		// rescaling the detector understands.
		return len(nd.Input) == 1
	case "Mul", "RealDiv", "Div", "Add", "AddV2", "BiasAdd", "Sub":
	default:
		return false
	}
	if len(nd.Input) != 2 {
		return false
	}
	xFirst := strings.TrimSuffix(nd.Input[0], ":0") == cur
	cref := nd.Input[1]
	if !xFirst {
		cref = nd.Input[0]
	}
	c := constant(g, nodes, cref)
	if c == nil || (len(c) != 1 && len(*scale) != 1 && len(c) != len(*scale)) {
		return false
	}
	// Broadcast the running (scale, offset) and c to a common length.
	k := max(len(c), len(*scale))
	grow := func(v []float64) []float64 {
		if len(v) == k {
			return v
		}
		out := make([]float64, k)
		for i := range out {
			out[i] = v[0]
		}
		return out
	}
	a, b, c := grow(*scale), grow(*offset), grow(c)
	for i := range a {
		switch {
		case nd.Op == "Mul":
			a[i], b[i] = a[i]*c[i], b[i]*c[i]
		case (nd.Op == "RealDiv" || nd.Op == "Div") && xFirst && c[i] != 0:
			a[i], b[i] = a[i]/c[i], b[i]/c[i]
		case nd.Op == "Add" || nd.Op == "AddV2" || nd.Op == "BiasAdd":
			b[i] += c[i]
		case nd.Op == "Sub" && xFirst:
			b[i] -= c[i]
		case nd.Op == "Sub":
			a[i], b[i] = -a[i], c[i]-b[i]
		default:
			return false
		}
	}
	*scale, *offset = a, b
	return true
}

// constant returns the float values of a constant tensor ref (a Const,
// possibly behind Identity or Cast), nil when it is not one.
func constant(g *savedmodel.Graph, nodes map[string]*ndpb.NodeDef, ref string) []float64 {
	name := strings.TrimSuffix(ref, ":0")
	for range 8 {
		if t, ok := g.Consts[name]; ok {
			var out []float64
			switch {
			case t.F32 != nil:
				for _, v := range t.F32 {
					out = append(out, float64(v))
				}
			case t.F64 != nil:
				out = append(out, t.F64...)
			case t.I32 != nil:
				for _, v := range t.I32 {
					out = append(out, float64(v))
				}
			}
			return out
		}
		nd := nodes[name]
		if nd == nil || (nd.Op != "Identity" && nd.Op != "Cast") || len(nd.Input) != 1 {
			return computed(g, ref)
		}
		name = strings.TrimSuffix(nd.Input[0], ":0")
	}
	return nil
}

// computed evaluates ref when it depends on constants only (a Keras
// Normalization layer's max(sqrt(variance), eps), a Reshape of a Const in
// a TF1 graph); nil when it reads the input or cannot be run.
func computed(g *savedmodel.Graph, ref string) []float64 {
	if dependents(g)[strings.Split(ref, ":")[0]] {
		return nil
	}
	sub := *g
	sub.Outputs = []string{ref}
	e, err := native.New(&sub)
	if err != nil {
		return nil
	}
	out, err := e.Run(context.Background(), nil)
	t := out[ref]
	if err != nil || t == nil || t.F32 == nil {
		return nil
	}
	v := make([]float64, len(t.F32))
	for i, x := range t.F32 {
		v[i] = float64(x)
	}
	return v
}

// Choice is the preprocessing a command uses, and why.
type Choice struct {
	Mode   string `json:"mode"`
	Reason string `json:"reason"`
	// Warn is set when the user should look: auto found nothing to go by,
	// or an explicit mode contradicts the graph's own normalisation.
	Warn bool `json:"-"`
}

// Log says which mode is used and why: a warning when Warn is set.
func (c Choice) Log(log *zap.Logger) {
	if c.Warn {
		log.Warn("preprocessing "+c.Mode, zap.String("why", c.Reason))
	} else {
		log.Info("preprocessing "+c.Mode, zap.String("why", c.Reason))
	}
}

// ChoosePreprocess resolves a requested mode ("auto", "" or a mode) for a
// graph with normalisation n. Auto picks the range the graph expects when
// it normalises its input itself; else, given st (the user's images
// against the moving statistics of the graph's first batch norm), the mode
// whose statistics are closest when the next is StatsMargin times
// farther; else "unit" (x/255, the TF-Hub convention), with a warning that
// says how to choose another.
func ChoosePreprocess(requested string, n Normalization, st *api.PreprocessStats) Choice {
	if requested != "" && requested != Auto {
		c := Choice{Mode: requested, Reason: "--preprocess " + requested + " as given"}
		if n.Expects != "" && requested != n.Expects {
			c.Warn = true
			c.Reason += fmt.Sprintf("; but the graph normalises its input itself (%s), so --preprocess %s (or auto) is probably right", n, n.Expects)
		}
		return c
	}
	const choose = "pass --preprocess raw|unit|tf|torch|caffe to match how the backbone was trained"
	switch {
	case n.Expects != "":
		return Choice{Mode: n.Expects, Reason: fmt.Sprintf("auto: the graph normalises its input itself (%s)", n)}
	case n.Found():
		return Choice{Mode: unit, Warn: true, Reason: fmt.Sprintf("auto: the graph's input arithmetic (%s); using unit (x/255): %s", n, choose)}
	case st != nil && len(st.Distances) > 1:
		r := Ranked(st)
		best, next := st.Distances[r[0]], st.Distances[r[1]]
		dist := fmt.Sprintf("symmetric KL over %d images: %s", st.Images, StatsText(st))
		if next >= StatsMargin*best {
			return Choice{Mode: r[0], Reason: fmt.Sprintf("auto: the graph does not normalise its input; the moving statistics of its first batch norm (%s) match the images best when preprocessed %s, %.3g times closer than %s (%s)", st.Layer, r[0], next/math.Max(best, 1e-300), r[1], dist)}
		}
		return Choice{Mode: unit, Warn: true, Reason: fmt.Sprintf("auto: the graph does not normalise its input, and the moving statistics of its first batch norm (%s) do not decide: %s and %s are within a factor %g (%s); using unit (x/255): %s", st.Layer, r[0], r[1], StatsMargin, dist, choose)}
	case st != nil:
		return Choice{Mode: unit, Warn: true, Reason: "auto: the graph does not normalise its input and has no batch norm whose moving statistics would say what it was trained on; using unit (x/255, in [0, 1], the TF-Hub convention): " + choose + " (caffe for VGG)"}
	}
	return Choice{Mode: unit, Warn: true, Reason: "auto: the graph does not normalise its input, so its expected range is unknown; using unit (x/255, in [0, 1], the TF-Hub convention): " + choose + " (tf for Keras MobileNet/Inception, caffe for ResNet50/VGG, torch for DenseNet)"}
}

// DetectDir loads the SavedModel in dir, reading its files only inside
// roots (nil: anywhere), and detects the normalisation at the input of its
// signature.
func DetectDir(roots savedmodel.Files, dir string, tags []string, signature string) (Normalization, error) {
	m, err := savedmodel.LoadIn(roots, dir, tags...)
	if err != nil {
		return Normalization{}, err
	}
	return DetectModel(m, signature)
}

// DetectModel is DetectDir on a model loaded already.
func DetectModel(m *savedmodel.Model, signature string) (Normalization, error) {
	g, err := m.FlattenSignature(signature)
	if err != nil {
		return Normalization{}, err
	}
	return DetectNormalization(g), nil
}
