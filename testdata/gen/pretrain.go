package main

import (
	"fmt"
	"log"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/graft-ml/graft/internal/util/idx"
)

// cnnWeights are the pretrained backbone's parameters in Keras layouts:
// conv kernels HWIO, dense kernel [in, out].
type cnnWeights struct {
	convK          [3][]float32
	convB          [3][]float32
	convShape      [3][4]int
	denseK, denseB []float32
	denseShape     [2]int
}

// Backbone architecture (NHWC in the SavedModel): 28x28x1 ->
// conv 3x3 16 + ReLU -> maxpool 2 -> conv 3x3 32 + ReLU -> maxpool 2 ->
// conv 3x3 64 + ReLU -> global average pool -> dense 10 -> softmax.
var convFilters = [3]int{16, 32, 64}

// pretrain trains the backbone on images with gorgonia (NCHW) and returns
// its weights. Inputs are scaled to [0, 1] ("unit" preprocessing).
func pretrain(set *idx.Set, n, epochs, batch int, seed uint64) (*cnnWeights, error) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(batch, 1, set.H, set.W), G.WithName("x"))
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(batch, 10), G.WithName("y"))
	rng := rand.New(rand.NewPCG(seed, 3))
	glorot := func(shape ...int) tensor.Tensor {
		fanIn, fanOut := shape[1], shape[0]
		if len(shape) == 4 {
			fanIn, fanOut = shape[1]*shape[2]*shape[3], shape[0]*shape[2]*shape[3]
		} else {
			fanIn, fanOut = shape[0], shape[1]
		}
		limit := float32(sqrt(6 / float64(fanIn+fanOut)))
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = (2*rng.Float32() - 1) * limit
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	var learnables G.Nodes
	h := x
	in := 1
	var convW, convB [3]*G.Node
	for i, f := range convFilters {
		convW[i] = G.NewTensor(g, tensor.Float32, 4, G.WithShape(f, in, 3, 3), G.WithName(fmt.Sprintf("w%d", i)), G.WithValue(glorot(f, in, 3, 3)))
		convB[i] = G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, f, 1, 1), G.WithName(fmt.Sprintf("b%d", i)), G.WithInit(G.Zeroes()))
		c, err := G.Conv2d(h, convW[i], tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
		if err != nil {
			return nil, err
		}
		h = G.Must(G.Rectify(G.Must(G.BroadcastAdd(c, convB[i], nil, []byte{0, 2, 3}))))
		if i < 2 {
			if h, err = G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}); err != nil {
				return nil, err
			}
		}
		learnables = append(learnables, convW[i], convB[i])
		in = f
	}
	hw := (set.H / 4) * (set.W / 4)
	pooled := G.Must(G.Mean(G.Must(G.Reshape(h, tensor.Shape{batch, in, hw})), 2))
	dw := G.NewMatrix(g, tensor.Float32, G.WithShape(in, 10), G.WithName("dw"), G.WithValue(glorot(in, 10)))
	db := G.NewMatrix(g, tensor.Float32, G.WithShape(1, 10), G.WithName("db"), G.WithInit(G.Zeroes()))
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(pooled, dw)), db, nil, []byte{0}))
	learnables = append(learnables, dw, db)
	loss := G.Must(G.Mean(G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(y, G.Must(G.Log(G.Must(G.SoftMax(logits)))))), 1))))))
	if _, err := G.Grad(loss, learnables...); err != nil {
		return nil, err
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learnables...))
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(2e-3))

	xs := make([]float32, batch*set.H*set.W)
	ys := make([]float32, batch*10)
	order := rng.Perm(n)
	for e := 0; e < epochs; e++ {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		var sum float64
		steps := 0
		for lo := 0; lo+batch <= n; lo += batch {
			clear(ys)
			for b := 0; b < batch; b++ {
				k := order[lo+b]
				for p, v := range set.Image(k) {
					xs[b*set.H*set.W+p] = float32(v) / 255
				}
				ys[b*10+int(set.Labels[k])] = 1
			}
			G.Let(x, tensor.New(tensor.WithShape(batch, 1, set.H, set.W), tensor.WithBacking(xs)))
			G.Let(y, tensor.New(tensor.WithShape(batch, 10), tensor.WithBacking(ys)))
			if err := vm.RunAll(); err != nil {
				return nil, err
			}
			if err := solver.Step(G.NodesToValueGrads(learnables)); err != nil {
				return nil, err
			}
			sum += float64(loss.Value().Data().(float32))
			steps++
			vm.Reset()
		}
		log.Printf("pretrain epoch %d: mean loss %.4f", e+1, sum/float64(steps))
	}

	w := &cnnWeights{}
	in = 1
	for i, f := range convFilters {
		oihw := convW[i].Value().Data().([]float32)
		w.convK[i] = oihwToHWIO(oihw, f, in, 3)
		w.convB[i] = append([]float32(nil), convB[i].Value().Data().([]float32)...)
		w.convShape[i] = [4]int{3, 3, in, f}
		in = f
	}
	w.denseK = append([]float32(nil), dw.Value().Data().([]float32)...)
	w.denseB = append([]float32(nil), db.Value().Data().([]float32)...)
	w.denseShape = [2]int{in, 10}
	return w, nil
}

func oihwToHWIO(src []float32, o, i, k int) []float32 {
	dst := make([]float32, len(src))
	for a := 0; a < o; a++ {
		for b := 0; b < i; b++ {
			for dy := 0; dy < k; dy++ {
				for dx := 0; dx < k; dx++ {
					dst[((dy*k+dx)*i+b)*o+a] = src[((a*i+b)*k+dy)*k+dx]
				}
			}
		}
	}
	return dst
}
