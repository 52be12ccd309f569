package head

import (
	"math"
	"testing"
)

// Two steps of each rule with the same gradient on a 6-parameter linear
// head (dense kernel 2x2, then bias 2: weight decay touches the first 4).
// Expected values are worked out by hand from the update rules:
//
//	Adam, lr 0.01, betas 0.9/0.999, eps 1e-7; constant g makes the
//	bias-corrected m/sqrt(v) equal sign(g), so each step moves lr*sign(g)
//	up to eps: p=0.5, g=0.1 -> step size 0.01*sqrt(1-0.999)/(1-0.9) =
//	0.0031622777, m=0.01, sqrt(v)=0.0031622777 -> p1 = 0.5-0.0099996838;
//	step 2 -> 0.48000054. g=0 never moves.
//	AdamW adds p -= lr*wd*p before each step on kernels only:
//	2.0*(1-0.01*0.1)^2 = 1.996002.
//	SGD, lr 0.1, momentum 0.9: v1=-0.1g, v2=0.9v1-0.1g=-0.19g, so
//	p2 = p - 0.29g; Nesterov step 1: p1 = p + 0.9*v1 - 0.1g = p - 0.19g.
var (
	optParams = []float32{0.5, -1.0, 2.0, 0.0, 0.1, -0.2}
	optGrads  = []float32{0.1, -0.2, 0.0, 1.0, 0.5, -0.05}
)

func runOptimizer(t *testing.T, opt Optimizer, steps int) []float32 {
	t.Helper()
	spec := Spec{Height: 1, Width: 1, Channels: 2, Kind: KindLinear, Classes: 2}
	lay := spec.Layout()
	if lay.Total != 6 || lay.DecayEnd != 4 {
		t.Fatalf("layout %+v: test assumes 6 parameters with decay on the first 4", lay)
	}
	ops := NewCPUOps()
	p, _ := ops.Alloc(6)
	g, _ := ops.Alloc(6)
	var slots []Buffer
	for range opt.Slots() {
		s, _ := ops.Alloc(6)
		slots = append(slots, s)
	}
	must(t, ops.Upload(p, 0, optParams))
	must(t, ops.Upload(g, 0, optGrads))
	for step := 1; step <= steps; step++ {
		must(t, ops.Update(opt, lay, step, p, g, slots))
	}
	out := make([]float32, 6)
	must(t, ops.Download(out, p, 0))
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func assertClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Errorf("%s: parameter %d = %.9g, want %.9g", what, i, got[i], want[i])
		}
	}
}

func TestAdamTwoSteps(t *testing.T) {
	opt := Optimizer{Name: Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}
	assertClose(t, "adam step 1", runOptimizer(t, opt, 1)[:1], []float32{0.5 - 0.0099996838}, 1e-6)
	assertClose(t, "adam", runOptimizer(t, opt, 2), []float32{0.48000054, -0.98000027, 2, -0.019999946, 0.080000108, -0.18000108}, 1e-6)
}

func TestAdamWTwoSteps(t *testing.T) {
	opt := Optimizer{Name: AdamW, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7, WeightDecay: 0.1}
	assertClose(t, "adamw", runOptimizer(t, opt, 2), []float32{0.47901104, -0.97801127, 1.996002, -0.019989946, 0.080000108, -0.18000108}, 1e-6)
}

func TestSGDMomentumTwoSteps(t *testing.T) {
	opt := Optimizer{Name: SGD, LR: 0.1, Momentum: 0.9}
	assertClose(t, "sgd", runOptimizer(t, opt, 2), []float32{0.471, -0.942, 2, -0.29, -0.045, -0.1855}, 1e-6)
	opt.Nesterov = true
	want := make([]float32, 6)
	for i := range want {
		want[i] = optParams[i] - 0.19*optGrads[i]
	}
	assertClose(t, "sgd nesterov", runOptimizer(t, opt, 1), want, 1e-6)
	plain := Optimizer{Name: SGD, LR: 0.1}
	for i := range want {
		want[i] = optParams[i] - 0.2*optGrads[i]
	}
	assertClose(t, "sgd without momentum", runOptimizer(t, plain, 2), want, 1e-6)
}

func TestKerasDefaults(t *testing.T) {
	adam, err := NewOptimizer(Adam)
	must(t, err)
	if adam.LR != 1e-3 || adam.Beta1 != 0.9 || adam.Beta2 != 0.999 || adam.Epsilon != 1e-7 {
		t.Errorf("adam defaults %+v differ from Keras's", adam)
	}
	if _, err := NewOptimizer("rmsprop"); err == nil {
		t.Error("unknown optimizer accepted")
	}
}
