// gorgonia.org/gorgonia has a cuda build tag of its own that needs cuDNN
// headers; the oracle runs in the untagged build.

//go:build !cuda

package head

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gorgoniaGradients differentiates the same loss symbolically with
// gorgonia, in float64 and NCHW: an oracle that shares nothing with our
// hand-written backward pass. It returns the gradients in our flat layout.
func gorgoniaGradients(t *testing.T, c gradCase) []float64 {
	t.Helper()
	s, lay := c.spec, c.spec.Layout()
	h, w, ch := s.Height, s.Width, s.Channels
	get := func(name string) []float64 {
		tn, _ := lay.Find(name)
		return c.params[tn.Offset : tn.Offset+tn.Size]
	}
	g := G.NewGraph()

	// Features NHWC -> NCHW.
	nchw := make([]float64, len(c.feats))
	for b := 0; b < c.batch; b++ {
		for p := 0; p < h*w; p++ {
			for k := 0; k < ch; k++ {
				nchw[((b*ch+k)*h*w)+p] = c.feats[(b*h*w+p)*ch+k]
			}
		}
	}
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(c.batch, ch, h, w), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(c.batch, ch, h, w), tensor.WithBacking(nchw))))

	var pooled *G.Node
	var wrt []*G.Node
	var convW, convB *G.Node
	if s.Kind == KindConv {
		k, f := s.Kernel, s.Filters
		// Kernel HWIO -> OIHW.
		hwio := get(ConvKernel)
		oihw := make([]float64, len(hwio))
		for dy := 0; dy < k; dy++ {
			for dx := 0; dx < k; dx++ {
				for i := 0; i < ch; i++ {
					for o := 0; o < f; o++ {
						oihw[((o*ch+i)*k+dy)*k+dx] = hwio[((dy*k+dx)*ch+i)*f+o]
					}
				}
			}
		}
		convW = G.NewTensor(g, tensor.Float64, 4, G.WithShape(f, ch, k, k), G.WithName("conv_w"), G.WithValue(tensor.New(tensor.WithShape(f, ch, k, k), tensor.WithBacking(oihw))))
		convB = G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, f, 1, 1), G.WithName("conv_b"), G.WithValue(tensor.New(tensor.WithShape(1, f, 1, 1), tensor.WithBacking(append([]float64(nil), get(ConvBias)...)))))
		conv, err := G.Conv2d(x, convW, tensor.Shape{k, k}, []int{k / 2, k / 2}, []int{1, 1}, []int{1, 1})
		if err != nil {
			t.Fatal(err)
		}
		act := G.Must(G.Rectify(G.Must(G.BroadcastAdd(conv, convB, nil, []byte{0, 2, 3}))))
		pooled = spatialMean(act, c.batch, f, h*w)
		wrt = append(wrt, convW, convB)
	} else {
		pooled = spatialMean(x, c.batch, ch, h*w)
	}
	in := s.Pooled()
	denseW := G.NewMatrix(g, tensor.Float64, G.WithShape(in, s.Classes), G.WithName("dense_w"), G.WithValue(tensor.New(tensor.WithShape(in, s.Classes), tensor.WithBacking(append([]float64(nil), get(DenseKernel)...)))))
	denseB := G.NewMatrix(g, tensor.Float64, G.WithShape(1, s.Classes), G.WithName("dense_b"), G.WithValue(tensor.New(tensor.WithShape(1, s.Classes), tensor.WithBacking(append([]float64(nil), get(DenseBias)...)))))
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(pooled, denseW)), denseB, nil, []byte{0}))
	wrt = append(wrt, denseW, denseB)

	// Smoothed one-hot targets; loss = -sum(targets * log softmax) / batch.
	targets := make([]float64, c.batch*s.Classes)
	for b, y := range c.labels {
		for j := 0; j < s.Classes; j++ {
			targets[b*s.Classes+j] = float64(s.LabelSmoothing) / float64(s.Classes)
		}
		targets[b*s.Classes+int(y)] += 1 - float64(s.LabelSmoothing)
	}
	tgt := G.NewMatrix(g, tensor.Float64, G.WithShape(c.batch, s.Classes), G.WithName("targets"), G.WithValue(tensor.New(tensor.WithShape(c.batch, s.Classes), tensor.WithBacking(targets))))
	logProbs := G.Must(G.Log(G.Must(G.SoftMax(logits))))
	loss := G.Must(G.Div(G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(tgt, logProbs)))))), G.NewConstant(float64(c.batch))))
	if _, err := G.Grad(loss, wrt...); err != nil {
		t.Fatalf("%s: gorgonia grad: %v", c.name, err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("%s: gorgonia run: %v", c.name, err)
	}

	out := make([]float64, lay.Total)
	grad := func(n *G.Node) []float64 {
		v, err := n.Grad()
		if err != nil {
			t.Fatalf("%s: gradient of %s: %v", c.name, n.Name(), err)
		}
		return v.Data().([]float64)
	}
	put := func(name string, vals []float64) {
		tn, _ := lay.Find(name)
		copy(out[tn.Offset:tn.Offset+tn.Size], vals)
	}
	if s.Kind == KindConv {
		k, f := s.Kernel, s.Filters
		oihw := grad(convW)
		hwio := make([]float64, len(oihw))
		for dy := 0; dy < k; dy++ {
			for dx := 0; dx < k; dx++ {
				for i := 0; i < ch; i++ {
					for o := 0; o < f; o++ {
						hwio[((dy*k+dx)*ch+i)*f+o] = oihw[((o*ch+i)*k+dy)*k+dx]
					}
				}
			}
		}
		put(ConvKernel, hwio)
		put(ConvBias, grad(convB))
	}
	put(DenseKernel, grad(denseW))
	put(DenseBias, grad(denseB))
	return out
}

// TestGradientsGorgonia checks every parameter's gradient against
// gorgonia's symbolic differentiation of the same loss.
func TestGradientsGorgonia(t *testing.T) {
	for _, c := range gradCases() {
		ours, _, err := ourGradients(c)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		checkGrad(t, c, gorgoniaGradients(t, c), ours, "gorgonia")
	}
}

// spatialMean averages an NCHW node over H and W. It reshapes to one
// spatial axis first: gorgonia's reduction over two axes at once indexes
// out of range (tensor v0.9.24).
func spatialMean(x *G.Node, b, c, hw int) *G.Node {
	return G.Must(G.Mean(G.Must(G.Reshape(x, tensor.Shape{b, c, hw})), 2))
}
