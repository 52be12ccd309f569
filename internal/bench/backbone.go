package bench

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
)

// BackboneResult is one backbone benchmark on the native engine.
type BackboneResult struct {
	Batch        int     `json:"batch"`
	Runs         int     `json:"runs"`
	ImagesPerSec float64 `json:"images_per_s"`
	// GFLOPs counts convolutions and matrix products over the whole run.
	GFLOPs float64 `json:"gflop_per_s"`
	// ConvGFLOPs is the rate of the Conv2D/depthwise nodes alone, over
	// their own time; ConvShare is their share of the run time.
	ConvGFLOPs float64 `json:"conv_gflop_per_s"`
	ConvShare  float64 `json:"conv_time_share"`
	// LargestConv is the conv with the most FLOPs and its GEMM shape
	// (rows x filters x patch), the yardstick's shape.
	LargestConv string  `json:"largest_conv"`
	SgemmShape  [3]int  `json:"sgemm_shape"`
	SgemmGFLOPs float64 `json:"sgemm_gflop_per_s"`
	// Ratio is ConvGFLOPs / SgemmGFLOPs.
	Ratio float64 `json:"ratio"`
	// Slowest are the nodes that took the most time, most first (at most
	// slowestNodes): where a slow model spends it.
	Slowest []NodeTime `json:"slowest_nodes"`
}

// NodeTime is one node's part of a profiled run.
type NodeTime struct {
	Name   string `json:"name"`
	Op     string `json:"op"`
	Output []int  `json:"output_shape"`
	// Share is the node's part of the run's node time.
	Share float64 `json:"share"`
	// GFLOPs is its rate over its own time, the direct method's FLOPs
	// (Winograd's fewer multiply-adds count as im2col's); 0 for the ops
	// whose FLOPs are not counted (pooling, element-wise, padding).
	GFLOPs float64 `json:"gflop_per_s"`
}

// slowestNodes is how many nodes BackboneResult.Slowest lists.
const slowestNodes = 8

// randomImages is a batch of random images for bb's input.
func randomImages(bb backbone.Backbone, batch int, rng *rand.Rand) (*tensor.Tensor, error) {
	shape := bb.Input().Shape
	if batch < 1 || len(shape) != 4 || shape[1] < 1 || shape[2] < 1 || shape[3] < 1 {
		return nil, fmt.Errorf("bench: backbone input %v with batch %d: need a fixed image size and batch >= 1", shape, batch)
	}
	x := tensor.New(tensor.Float32, batch, shape[1], shape[2], shape[3])
	for i := range x.F32 {
		x.F32[i] = rng.Float32()
	}
	return x, nil
}

// Rate is one backbone's throughput from Throughputs.
type Rate struct {
	ImagesPerSec float64
	Runs         int
}

// turns is how many turns each backbone gets in Throughputs.
const turns = 10

// Throughputs times batches of random images through any engines'
// backbones, side by side: images per second each, their batches taken in
// turns (ten turns each, of at least minTime/10 and one batch): on a
// machine whose speed drifts by a fifth within seconds (a shared VM), one
// after the other gave whichever ran in the slow stretch a worse ratio; in
// turns, the drift slows each alike. Every backbone runs one warm-up
// batch first.
func Throughputs(ctx context.Context, bbs []backbone.Backbone, batch int, minTime time.Duration) ([]Rate, error) {
	xs := make([]*tensor.Tensor, len(bbs))
	for i, bb := range bbs {
		x, err := randomImages(bb, batch, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			return nil, err
		}
		if _, err := bb.Features(ctx, x); err != nil {
			return nil, err
		}
		xs[i] = x
	}
	rates := make([]Rate, len(bbs))
	spent := make([]time.Duration, len(bbs))
	for range turns {
		for i, bb := range bbs {
			start := time.Now()
			for n := 0; n == 0 || time.Since(start) < minTime/turns; n++ {
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("bench: %w", err)
				}
				if _, err := bb.Features(ctx, xs[i]); err != nil {
					return nil, err
				}
				rates[i].Runs++
			}
			spent[i] += time.Since(start)
		}
	}
	for i := range rates {
		rates[i].ImagesPerSec = float64(batch*rates[i].Runs) / spent[i].Seconds()
	}
	return rates, nil
}

// Backbone times batches of random images through bb and, in the same
// run, SGEMM on the largest convolution's GEMM shape.
func Backbone(ctx context.Context, bb *native.Backbone, batch int, minTime time.Duration) (BackboneResult, error) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, err := randomImages(bb, batch, rng)
	if err != nil {
		return BackboneResult{}, err
	}
	var flops, convFlops float64
	var total, convTime time.Duration
	best := struct {
		flops float64
		name  string
		gemm  [3]int
	}{}
	type nodeSum struct {
		NodeTime
		flops float64
		time  time.Duration
	}
	byNode := map[string]*nodeSum{}
	runs, elapsed, err := repeat(ctx, minTime, func() error {
		_, prof, err := bb.Profile(ctx, x)
		for _, n := range prof {
			f, g := nodeFLOPs(n)
			flops += f
			total += n.Time
			ns := byNode[n.Name]
			if ns == nil {
				ns = &nodeSum{NodeTime: NodeTime{Name: n.Name, Op: n.Op, Output: n.Output}}
				byNode[n.Name] = ns
			}
			ns.flops += f
			ns.time += n.Time
			if n.Op == "Conv2D" || n.Op == "DepthwiseConv2dNative" {
				convFlops += f
				convTime += n.Time
				if f > best.flops && n.Op == "Conv2D" {
					best.flops, best.name, best.gemm = f, n.Name, g
				}
			}
		}
		return err
	})
	if err != nil {
		return BackboneResult{}, err
	}
	// flops and times include repeat's warm-up run; rates are ratios of
	// the two, so it cancels out.
	res := BackboneResult{Batch: batch, Runs: runs, ImagesPerSec: float64(batch*runs) / elapsed.Seconds()}
	res.GFLOPs = flops / total.Seconds() / 1e9
	if convTime > 0 {
		res.ConvGFLOPs = convFlops / convTime.Seconds() / 1e9
		res.ConvShare = convTime.Seconds() / total.Seconds()
	}
	for _, ns := range byNode {
		if ns.time > 0 && total > 0 {
			ns.Share = ns.time.Seconds() / total.Seconds()
			ns.GFLOPs = ns.flops / ns.time.Seconds() / 1e9
		}
		res.Slowest = append(res.Slowest, ns.NodeTime)
	}
	slices.SortFunc(res.Slowest, func(p, q NodeTime) int {
		return cmp.Or(cmp.Compare(q.Share, p.Share), strings.Compare(p.Name, q.Name))
	})
	res.Slowest = res.Slowest[:min(len(res.Slowest), slowestNodes)]
	if best.name == "" {
		return res, nil
	}
	res.LargestConv, res.SgemmShape = best.name, best.gemm
	m, n, k := best.gemm[0], best.gemm[1], best.gemm[2]
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range b {
		b[i] = rng.Float32()
	}
	calls, el, err := repeat(ctx, minTime, func() error {
		gemm.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		return nil
	})
	if err != nil {
		return res, err
	}
	res.SgemmGFLOPs = 2 * float64(m) * float64(n) * float64(k) * float64(calls) / el.Seconds() / 1e9
	res.Ratio = res.ConvGFLOPs / res.SgemmGFLOPs
	return res, nil
}

// nodeFLOPs counts a node's floating-point operations (multiply-add = 2)
// for the ops that dominate CNNs, and a Conv2D's GEMM shape.
func nodeFLOPs(n native.NodeRun) (float64, [3]int) {
	prod := func(s []int) int {
		p := 1
		for _, d := range s {
			p *= d
		}
		return p
	}
	switch n.Op {
	case "Conv2D":
		if len(n.Inputs) == 2 && len(n.Inputs[1]) == 4 && len(n.Output) == 4 {
			f := n.Inputs[1]
			rows, k := prod(n.Output[:3]), f[0]*f[1]*f[2]
			return 2 * float64(rows) * float64(k) * float64(f[3]), [3]int{rows, f[3], k}
		}
	case "DepthwiseConv2dNative":
		if len(n.Inputs) == 2 && len(n.Inputs[1]) == 4 {
			f := n.Inputs[1]
			return 2 * float64(prod(n.Output)) * float64(f[0]*f[1]), [3]int{}
		}
	case "MatMul":
		if len(n.Inputs) == 2 && len(n.Output) == 2 && n.Output[0] > 0 {
			k := prod(n.Inputs[0]) / n.Output[0]
			return 2 * float64(prod(n.Output)) * float64(k), [3]int{}
		}
	}
	return 0, [3]int{}
}
