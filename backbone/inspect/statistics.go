package inspect

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// StatsMargin is how much closer the best mode's statistics must be than
// the second best's for auto to pick it: the second's distance at least
// StatsMargin times the best's. The modes are far apart in scale (raw vs
// unit is 255x, tf vs unit 2x with a shift), so the right one is usually
// closer by an order of magnitude; a factor 2 leaves room for photos
// unlike the ones the backbone was trained on while refusing a near tie.
const StatsMargin = 2.0

// BatchNorm is the first normalisation with moving statistics on the way
// from a graph's input: a FusedBatchNorm* node, or the arithmetic
// tf.nn.batch_normalization writes (Keras 3: Rsqrt(var+eps), Mul by
// gamma, x*inv + (beta - mean*inv)). X, Mean and Var are tensors of the
// graph ("node:i"): its input, and its moving mean and variance.
type BatchNorm struct {
	Layer         string
	X, Mean, Var  string
	Epsilon       float64
	channelsFirst bool
}

// FirstBatchNorm finds the batch norm whose input is computed earliest
// from g's input (in g's topological order); false when there is none.
func FirstBatchNorm(g *savedmodel.Graph) (BatchNorm, bool) {
	dep := dependents(g)
	nodes := map[string]*ndpb.NodeDef{}
	users := map[string][]*ndpb.NodeDef{}
	for _, nd := range g.Nodes {
		nodes[nd.Name] = nd
		for _, in := range nd.Input {
			users[nodeOf(in)] = append(users[nodeOf(in)], nd)
		}
	}
	fromInput := func(ref string) bool { return dep[nodeOf(ref)] }
	for _, nd := range g.Nodes {
		switch nd.Op {
		case "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3":
			if len(nd.Input) < 5 || !fromInput(nd.Input[0]) {
				continue
			}
			bn := BatchNorm{Layer: nd.Name, X: ref(nd.Input[0]), Mean: ref(nd.Input[3]), Var: ref(nd.Input[4]), Epsilon: 1e-4}
			if a := nd.Attr["epsilon"]; a != nil {
				bn.Epsilon = float64(a.GetF())
			}
			if a := nd.Attr["data_format"]; a != nil && string(a.GetS()) == "NCHW" {
				bn.channelsFirst = true
			}
			return bn, true
		case "Mul":
			if len(nd.Input) != 2 {
				continue
			}
			for i, x := range nd.Input {
				inv := nd.Input[1-i]
				if !fromInput(x) || fromInput(inv) {
					continue
				}
				if bn, ok := decomposed(g, nodes, users, fromInput, inv); ok {
					bn.X = ref(x)
					return bn, true
				}
			}
		}
	}
	return BatchNorm{}, false
}

// decomposed matches inv, a constant factor the data is multiplied by,
// against tf.nn.batch_normalization's rsqrt(var + eps) [* gamma], and
// finds the moving mean: the other factor of a Mul by inv that a Sub (beta
// - mean*inv) or a Neg (no beta) reads.
func decomposed(g *savedmodel.Graph, nodes map[string]*ndpb.NodeDef, users map[string][]*ndpb.NodeDef, fromInput func(string) bool, inv string) (BatchNorm, bool) {
	nd := nodes[nodeOf(inv)]
	chain := []*ndpb.NodeDef{}
	for nd != nil && nd.Op == "Mul" && len(nd.Input) == 2 && len(chain) < 4 {
		chain = append(chain, nd) // inv * gamma: follow the factor that leads to Rsqrt
		a, b := nodes[nodeOf(nd.Input[0])], nodes[nodeOf(nd.Input[1])]
		switch {
		case a != nil && (a.Op == "Rsqrt" || a.Op == "Mul"):
			nd = a
		case b != nil && (b.Op == "Rsqrt" || b.Op == "Mul"):
			nd = b
		default:
			nd = nil
		}
	}
	if nd == nil || nd.Op != "Rsqrt" || len(nd.Input) != 1 {
		return BatchNorm{}, false
	}
	add := nodes[nodeOf(nd.Input[0])]
	if add == nil || (add.Op != "Add" && add.Op != "AddV2") || len(add.Input) != 2 {
		return BatchNorm{}, false
	}
	bn := BatchNorm{Layer: strings.TrimSuffix(nd.Name, "/Rsqrt")}
	for i, in := range add.Input {
		if c := constant(g, nodes, in); len(c) == 1 && !fromInput(add.Input[1-i]) {
			bn.Epsilon, bn.Var = c[0], ref(add.Input[1-i])
		}
	}
	if bn.Var == "" {
		return BatchNorm{}, false
	}
	// The mean: mean*inv, read by beta - mean*inv or -(mean*inv).
	for _, s := range append([]*ndpb.NodeDef{nd}, chain...) {
		for _, u := range users[s.Name] {
			if u.Op != "Mul" || len(u.Input) != 2 {
				continue
			}
			other := u.Input[0]
			if nodeOf(other) == s.Name {
				other = u.Input[1]
			}
			if fromInput(other) {
				continue
			}
			for _, uu := range users[u.Name] {
				if (uu.Op == "Sub" && len(uu.Input) == 2 && nodeOf(uu.Input[1]) == u.Name) || uu.Op == "Neg" {
					bn.Mean = ref(other)
					return bn, true
				}
			}
		}
	}
	return BatchNorm{}, false
}

// nodeOf is the node of a tensor reference ("node:1" -> "node").
func nodeOf(ref string) string {
	n, _, _ := strings.Cut(ref, ":")
	return n
}

// ref is a tensor reference as "node:i".
func ref(r string) string {
	if strings.Contains(r, ":") {
		return r
	}
	return r + ":0"
}

// CompareStatistics runs g up to bn's input on a batch of the user's
// images under every mode (batch gives it, preprocessed) and measures how
// far each batch's per-channel statistics are from bn's moving ones
// (Distance). It costs one pass of the graph's first layers per mode.
func CompareStatistics(ctx context.Context, g *savedmodel.Graph, bn BatchNorm, modes []string, batch func(mode string) (*tensor.Tensor, error)) (*api.PreprocessStats, error) {
	if bn.channelsFirst {
		return nil, fmt.Errorf("inspect: batch norm %s is channels-first (NCHW); graft reads statistics of NHWC graphs only", bn.Layer)
	}
	sub := *g
	sub.Outputs = []string{bn.X, bn.Mean, bn.Var}
	e, err := native.New(&sub)
	if err != nil {
		return nil, fmt.Errorf("inspect: the graph up to batch norm %s: %w", bn.Layer, err)
	}
	st := &api.PreprocessStats{Layer: bn.Layer, Distances: map[string]float64{}}
	for _, mode := range modes {
		x, err := batch(mode)
		if err != nil {
			return nil, err
		}
		out, err := e.Run(ctx, map[string]*tensor.Tensor{g.Inputs[0]: x})
		if err != nil {
			return nil, fmt.Errorf("inspect: the graph up to batch norm %s: %w", bn.Layer, err)
		}
		st.Images = x.Shape[0]
		d, err := Distance(out[bn.X], out[bn.Mean], out[bn.Var], bn.Epsilon)
		if err != nil {
			return nil, fmt.Errorf("inspect: batch norm %s: %w", bn.Layer, err)
		}
		st.Distances[mode] = d
	}
	return st, nil
}

// Distance is the mean over channels of the symmetric Kullback-Leibler
// divergence between N(batch mean, batch variance) of x's channels (the
// last axis) and N(moving mean, moving variance), both variances plus eps
// as the layer adds it:
//
//	J = ((v1-v2)^2 + (m1-m2)^2 (v1+v2)) / (2 v1 v2)
//
// It is zero when the statistics agree, penalises a shifted mean and a
// wrong spread alike, and is unchanged when a channel is rescaled, so a
// channel with large activations does not outweigh the others and the
// distance reads the same at any layer.
func Distance(x, mean, variance *tensor.Tensor, eps float64) (float64, error) {
	if x == nil || mean == nil || variance == nil || x.F32 == nil || mean.F32 == nil || variance.F32 == nil {
		return 0, fmt.Errorf("statistics are not float32")
	}
	c := mean.Len()
	if c == 0 || variance.Len() != c || len(x.Shape) < 2 || x.Shape[len(x.Shape)-1] != c || x.Len() == 0 {
		return 0, fmt.Errorf("activations %v do not match %d moving means and %d variances", x.Shape, c, variance.Len())
	}
	n := x.Len() / c
	sum, sq := make([]float64, c), make([]float64, c)
	for i, v := range x.F32 {
		sum[i%c] += float64(v)
	}
	for j := range sum {
		sum[j] /= float64(n)
	}
	for i, v := range x.F32 {
		d := float64(v) - sum[i%c]
		sq[i%c] += d * d
	}
	var total float64
	for j := range c {
		m1, v1 := sum[j], sq[j]/float64(n)+eps
		m2, v2 := float64(mean.F32[j]), float64(variance.F32[j])+eps
		if v1 <= 0 || v2 <= 0 {
			return 0, fmt.Errorf("channel %d has variance %g (moving %g)", j, v1, v2)
		}
		dm := m1 - m2
		total += ((v1-v2)*(v1-v2) + dm*dm*(v1+v2)) / (2 * v1 * v2)
	}
	d := total / float64(c)
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, fmt.Errorf("the distance is %g", d)
	}
	return d, nil
}

// Ranked lists st's modes closest first (ties by name).
func Ranked(st *api.PreprocessStats) []string {
	modes := make([]string, 0, len(st.Distances))
	for m := range st.Distances {
		modes = append(modes, m)
	}
	sort.Slice(modes, func(i, j int) bool {
		di, dj := st.Distances[modes[i]], st.Distances[modes[j]]
		if di != dj {
			return di < dj
		}
		return modes[i] < modes[j]
	})
	return modes
}

// StatsText lists the distances closest first, e.g. "caffe 0.012, raw
// 0.9, ...".
func StatsText(st *api.PreprocessStats) string {
	var parts []string
	for _, m := range Ranked(st) {
		parts = append(parts, fmt.Sprintf("%s %.3g", m, st.Distances[m]))
	}
	return strings.Join(parts, ", ")
}
