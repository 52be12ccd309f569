package head

import (
	"math"
	"testing"
)

// TestWeightedLossMatchesKeras checks the weighted loss against values
// Keras 3.15 computed (build/pyenv: CategoricalCrossentropy(from_logits=True,
// label_smoothing=s)(onehot(y), z, sample_weight=w)), and hand-computed
// cases: Keras divides the weighted sum by the batch size, not by the sum
// of the weights (which would give 2.0284 and 1.9760 for the first two).
func TestWeightedLossMatchesKeras(t *testing.T) {
	t.Parallel()
	z := []float32{1, 2, 0.5, 0.1, 0.2, 3, 2, 1, 0, 0, 0, 0}
	y := []int32{0, 1, 2, 1}
	w := []float32{0.5, 2, 1, 2}
	ln2 := math.Log(2)
	for _, c := range []struct {
		name    string
		logits  []float32
		labels  []int32
		weights []float32
		classes int
		smooth  float32
		want    float64 // the batch's reduced loss
	}{
		{"keras-weighted", z, y, w, 3, 0, 2.7890543937683105},
		{"keras-weighted-smoothed", z, y, w, 3, 0.1, 2.7169711589813232},
		{"keras-unweighted", z, y, nil, 3, 0, 1.970047116279602},
		{"hand-equal-logits", []float32{0, 0, 0, 0}, []int32{0, 1}, []float32{3, 0}, 2, 0, 3 * ln2 / 2},
		{"hand-zero-weights", []float32{5, -5}, []int32{1}, []float32{0}, 2, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st, err := WeightedSoftmaxCrossEntropy(c.logits, c.labels, c.weights, c.classes, c.smooth, make([]float32, len(c.logits)))
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Loss / float64(st.Count); math.Abs(got-c.want) > 1e-6 {
				t.Errorf("loss %.7g, want %.7g", got, c.want)
			}
		})
	}
}

// TestDropoutMask checks the mask's law (kept with probability 1-p,
// scaled by 1/(1-p), so its mean is 1) and that it depends on the seed
// and the step alone.
func TestDropoutMask(t *testing.T) {
	const b, units, p = 64, 500, 0.3
	m := DropoutMask(7, 12, b, units, p)
	kept, sum := 0, 0.0
	for _, v := range m {
		switch {
		case v == 0:
		case math.Abs(float64(v)-1/(1-p)) < 1e-6:
			kept++
		default:
			t.Fatalf("mask value %v: want 0 or %v", v, 1/(1-p))
		}
		sum += float64(v)
	}
	n := float64(b * units)
	// Binomial: 5 standard deviations.
	if sd := math.Sqrt(n * p * (1 - p)); math.Abs(float64(kept)-n*(1-p)) > 5*sd {
		t.Errorf("kept %d of %.0f, want about %.0f", kept, n, n*(1-p))
	}
	if mean := sum / n; math.Abs(mean-1) > 0.02 {
		t.Errorf("mask mean %v, want about 1", mean)
	}
	same, other, seed := DropoutMask(7, 12, b, units, p), DropoutMask(7, 13, b, units, p), DropoutMask(8, 12, b, units, p)
	eq := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if !eq(m, same) || eq(m, other) || eq(m, seed) {
		t.Errorf("masks: same (seed, step) equal %v, another step differs %v, another seed differs %v", eq(m, same), !eq(m, other), !eq(m, seed))
	}
}

// TestBalancedWeights checks scikit-learn's formula on a hand-computed case:
// 6 samples, 3 classes, counts 3, 2, 1 -> 6/9, 6/6, 6/3.
func TestBalancedWeights(t *testing.T) {
	got := BalancedWeights([]int{3, 2, 1})
	for i, want := range []float64{2.0 / 3, 1, 2} {
		if math.Abs(got[i]-want) > 1e-12 {
			t.Errorf("class %d: %v, want %v", i, got[i], want)
		}
	}
}

// TestDropoutOffAtEvaluation checks that a model with dropout predicts
// exactly what one without does: dropout trains, never infers.
func TestDropoutOffAtEvaluation(t *testing.T) {
	spec := Spec{Height: 2, Width: 2, Channels: 3, Kind: KindLinear, Classes: 2}
	opt, _ := NewOptimizer("adam")
	feats := make([]float32, 4*spec.FeatureSize())
	for i := range feats {
		feats[i] = float32(i%7) - 3
	}
	var out [2][]float32
	for i, p := range []float32{0, 0.9} {
		m, err := New(NewCPUOps(), spec, opt, 1)
		if err != nil {
			t.Fatal(err)
		}
		m.Dropout = p
		buf, _ := UploadFeatures(m.Ops(), spec, feats)
		if out[i], err = m.Logits(Resident{Buf: buf}, 4, 2); err != nil {
			t.Fatal(err)
		}
	}
	for i := range out[0] {
		if out[0][i] != out[1][i] {
			t.Fatalf("logit %d: %v with dropout, %v without", i, out[1][i], out[0][i])
		}
	}
}
