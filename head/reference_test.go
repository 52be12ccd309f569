package head

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// gradCase is one random head problem for the gradient oracles.
type gradCase struct {
	name   string
	spec   Spec
	batch  int
	feats  []float64 // batch x H x W x C
	labels []int32
	params []float64 // flat, in spec.Layout() order
	way    string    // "taps" or "winograd": convolve that way whatever the width (conv.go); "": the width rule
	// mask (batch x pooled dropout factors) and weights (one loss weight
	// per sample) are the step's Extras; nil: none.
	mask, weights []float64
}

func newGradCase(name string, spec Spec, batch int, seed uint64) gradCase {
	rng := rand.New(rand.NewPCG(seed, 7))
	c := gradCase{name: name, spec: spec, batch: batch}
	c.feats = make([]float64, batch*spec.FeatureSize())
	for i := range c.feats {
		c.feats[i] = rng.NormFloat64()
	}
	for range batch {
		c.labels = append(c.labels, int32(rng.IntN(spec.Classes)))
	}
	c.params = make([]float64, spec.Layout().Total)
	for i := range c.params {
		c.params[i] = 0.3 * rng.NormFloat64() // biases non-zero too
	}
	return c
}

// referenceLoss is an independent float64 implementation of the head's
// mean loss: direct convolution loops, no im2col, no BLAS, no shared code
// with the implementation under test.
func referenceLoss(c gradCase, params []float64) float64 {
	spec, batch, labels := c.spec, c.batch, c.labels
	var total float64
	for b := 0; b < batch; b++ {
		logits := referenceLogits(c, params, b)
		maxZ := math.Inf(-1)
		for _, z := range logits {
			maxZ = math.Max(maxZ, z)
		}
		w := 1.0
		if c.weights != nil {
			w = c.weights[b]
		}
		var sum float64
		for _, z := range logits {
			sum += math.Exp(z - maxZ)
		}
		lse := maxZ + math.Log(sum)
		s := float64(spec.LabelSmoothing)
		for j, z := range logits {
			t := s / float64(spec.Classes)
			if j == int(labels[b]) {
				t += 1 - s
			}
			total -= w * t * (z - lse)
		}
	}
	return total / float64(batch)
}

// referenceLogits is sample b's logits, computed as referenceLoss needs
// them.
func referenceLogits(c gradCase, params []float64, b int) []float64 {
	spec, feats := c.spec, c.feats
	lay := spec.Layout()
	get := func(name string) []float64 {
		t, _ := lay.Find(name)
		return params[t.Offset : t.Offset+t.Size]
	}
	h, w, ch, k := spec.Height, spec.Width, spec.Channels, spec.Kernel
	in := spec.Pooled()
	x := feats[b*spec.FeatureSize() : (b+1)*spec.FeatureSize()]
	pooled := make([]float64, in)
	if spec.Kind == KindLinear {
		for p := 0; p < h*w; p++ {
			for c := 0; c < ch; c++ {
				pooled[c] += x[p*ch+c] / float64(h*w)
			}
		}
	} else {
		kern, bias := get(ConvKernel), get(ConvBias)
		for y := 0; y < h; y++ {
			for xx := 0; xx < w; xx++ {
				for f := 0; f < spec.Filters; f++ {
					s := bias[f]
					for dy := 0; dy < k; dy++ {
						for dx := 0; dx < k; dx++ {
							sy, sx := y+dy-k/2, xx+dx-k/2
							if sy < 0 || sy >= h || sx < 0 || sx >= w {
								continue
							}
							for c := 0; c < ch; c++ {
								s += x[(sy*w+sx)*ch+c] * kern[((dy*k+dx)*ch+c)*spec.Filters+f]
							}
						}
					}
					pooled[f] += math.Max(s, 0) / float64(h*w)
				}
			}
		}
	}
	if c.mask != nil {
		for i := range pooled {
			pooled[i] *= c.mask[b*in+i]
		}
	}
	dk, db := get(DenseKernel), get(DenseBias)
	logits := make([]float64, spec.Classes)
	for j := range logits {
		logits[j] = db[j]
		for i := 0; i < in; i++ {
			logits[j] += pooled[i] * dk[i*spec.Classes+j]
		}
	}
	return logits
}

// ourGradients runs CPUOps.Gradients in float32 on the case.
func ourGradients(c gradCase) ([]float32, Stats, error) {
	return gradientsAt(c, PrecisionFP32)
}

// gradientsAt is ourGradients with the conv's GEMMs at precision prec.
func gradientsAt(c gradCase, prec Precision) ([]float32, Stats, error) {
	defer convolveBy(c.way)()
	ops, err := NewCPUOpsAt(prec)
	if err != nil {
		return nil, Stats{}, err
	}
	p, _ := ops.Alloc(len(c.params))
	g, _ := ops.Alloc(len(c.params))
	if err := ops.Upload(p, 0, toF32(c.params)); err != nil {
		return nil, Stats{}, err
	}
	f, err := UploadFeatures(ops, c.spec, toF32(c.feats))
	if err != nil {
		return nil, Stats{}, err
	}
	idx := make([]int32, c.batch)
	for i := range idx {
		idx[i] = int32(i)
	}
	st, err := ops.GradientsWith(c.spec, p, f, idx, c.labels, g, Extras{Mask: toF32(c.mask), Weights: toF32(c.weights)})
	if err != nil {
		return nil, st, err
	}
	out := make([]float32, len(c.params))
	return out, st, ops.Download(out, g, 0)
}

func toF32(x []float64) []float32 {
	if x == nil {
		return nil
	}
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// gradCases covers every parameter on several random shapes, including odd
// spatial sizes, batch 1, kernels larger than the image, label smoothing and
// the linear probe.
func gradCases() []gradCase {
	conv := func(h, w, c, f, k, classes int) Spec {
		return Spec{Height: h, Width: w, Channels: c, Kind: KindConv, Filters: f, Kernel: k, Classes: classes}
	}
	smoothed := conv(4, 4, 3, 5, 3, 3)
	smoothed.LabelSmoothing = 0.1
	cases := []gradCase{
		newGradCase("batch1-3x5", conv(3, 5, 2, 3, 3, 4), 1, 1),
		newGradCase("batch3-4x4-smoothing", smoothed, 3, 2),
		newGradCase("batch2-5x3-k5", conv(5, 3, 1, 2, 5, 2), 2, 3),
		newGradCase("batch4-7x7-k1", conv(7, 7, 4, 6, 1, 5), 4, 4),
		newGradCase("batch5-1x1", conv(1, 1, 3, 4, 3, 3), 5, 5),
	}
	for _, c := range cases[:len(cases):len(cases)] { // every way of convolving
		for _, way := range []string{"taps", "winograd"} {
			v := c
			v.name, v.way = c.name+"-"+way, way
			cases = append(cases, v)
		}
	}
	return append(cases, newGradCase("linear-batch2-3x3", Spec{Height: 3, Width: 3, Channels: 4, Kind: KindLinear, Classes: 3}, 2, 6))
}

// convolveBy makes every conv head convolve the given way ("taps": tap by
// tap; "winograd": Winograd where the kernel is 3x3, else the width rule;
// "": the width rule, Winograd off) until the returned function restores
// the rules.
func convolveBy(way string) (restore func()) {
	oldDirect, oldForce, oldEnv := directMinChannels, winoForce, winoHeadEnv
	switch way {
	case "taps":
		directMinChannels, winoHeadEnv = 1, "0"
	case "winograd":
		winoForce = true
	case "":
		winoHeadEnv = "0"
	default:
		panic("convolveBy " + way)
	}
	return func() { directMinChannels, winoForce, winoHeadEnv = oldDirect, oldForce, oldEnv }
}

// extrasCases are heads trained with a fixed dropout mask (as
// DropoutMask draws it) and per-sample loss weights, alone and together.
func extrasCases() []gradCase {
	withExtras := func(c gradCase, p float32, weights []float64) gradCase {
		if p > 0 {
			for _, v := range DropoutMask(uint64(len(c.name)), 3, c.batch, c.spec.Pooled(), p) {
				c.mask = append(c.mask, float64(v))
			}
		}
		c.weights = weights
		c.name += fmt.Sprintf("-dropout%g-weights%v", p, weights)
		return c
	}
	cs := gradCases()
	return []gradCase{
		withExtras(cs[1], 0.5, nil),
		withExtras(cs[3], 0.3, []float64{0.5, 2, 1, 3}),
		withExtras(cs[len(cs)-1], 0.4, nil),
		withExtras(cs[len(cs)-1], 0, []float64{2.5, 0}),
		withExtras(cs[0], 0, []float64{1.7}),
	}
}
