package head

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// plantedData makes features whose class is visible only through a local
// pattern: class y puts a horizontal dipole (+1 then -1) into channel y at a
// random position, over Gaussian noise. Every channel's spatial mean is
// the same for every class, so global average pooling alone (the linear
// probe) sees nothing, while a 3x3 conv + ReLU detects the dipole.
func plantedData(n, h, w, classes int, seed uint64) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(seed, 99))
	feats := make([]float32, n*h*w*classes)
	labels := make([]int32, n)
	for i := range labels {
		y := rng.IntN(classes)
		labels[i] = int32(y)
		x := feats[i*h*w*classes : (i+1)*h*w*classes]
		for j := range x {
			x[j] = float32(0.1 * rng.NormFloat64())
		}
		py, px := rng.IntN(h), rng.IntN(w-1)
		x[(py*w+px)*classes+y] += 1
		x[(py*w+px+1)*classes+y] -= 1
	}
	return feats, labels
}

type plantedProblem struct {
	spec                   Spec
	train, test            Buffer
	trainLabels, testLabel []int32
}

func newPlanted(t *testing.T, ops Ops, kind Kind) plantedProblem {
	t.Helper()
	const h, w, classes = 6, 6, 4
	spec := Spec{Height: h, Width: w, Channels: classes, Kind: kind, Filters: 16, Kernel: 3, Classes: classes}
	trainF, trainL := plantedData(600, h, w, classes, 1)
	testF, testL := plantedData(400, h, w, classes, 2)
	p := plantedProblem{spec: spec, trainLabels: trainL, testLabel: testL}
	var err error
	if p.train, err = UploadFeatures(ops, spec, trainF); err != nil {
		t.Fatal(err)
	}
	if p.test, err = UploadFeatures(ops, spec, testF); err != nil {
		t.Fatal(err)
	}
	return p
}

func trainEpochs(t *testing.T, m *Model, p plantedProblem, epochs int) {
	t.Helper()
	for e := 0; e < epochs; e++ {
		if _, err := m.Epoch(Resident{p.train}, p.trainLabels, 32, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func accuracy(t *testing.T, m *Model, feats Buffer, labels []int32) float64 {
	t.Helper()
	st, err := m.Evaluate(Resident{feats}, labels, 64)
	if err != nil {
		t.Fatal(err)
	}
	// The predicted classes agree with the loss's own count of correct
	// samples.
	right := 0
	for i, y := range labels {
		if st.Predicted[i] == int(y) {
			right++
		}
	}
	if len(st.Predicted) != len(labels) || right != st.Correct {
		t.Errorf("Predicted: %d of %d right, the loss counts %d of %d", right, len(st.Predicted), st.Correct, len(labels))
	}
	return float64(st.Correct) / float64(st.Count)
}

func TestPlantedSignalNeedsConvPath(t *testing.T) {
	t.Parallel()
	ops := NewCPUOps()
	opt := Optimizer{Name: Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}

	conv := newPlanted(t, ops, KindConv)
	m, err := New(ops, conv.spec, opt, 42)
	must(t, err)
	trainEpochs(t, m, conv, 30)
	if acc := accuracy(t, m, conv.test, conv.testLabel); acc < 0.99 {
		t.Errorf("conv head: held-out accuracy %.3f, want >= 0.99", acc)
	} else {
		t.Logf("conv head: held-out accuracy %.3f", acc)
	}

	// The same data defeats the linear probe: the signal is not in the
	// channel means. This guards the test data itself.
	lin := newPlanted(t, ops, KindLinear)
	lm, err := New(ops, lin.spec, opt, 42)
	must(t, err)
	trainEpochs(t, lm, lin, 30)
	if acc := accuracy(t, lm, lin.test, lin.testLabel); acc > 0.45 {
		t.Errorf("linear probe reached %.3f on planted data: the signal leaks into the channel means", acc)
	} else {
		t.Logf("linear probe: held-out accuracy %.3f (chance 0.25)", acc)
	}
}

func TestResumeIsBitForBit(t *testing.T) {
	t.Parallel()
	for _, name := range []string{Adam, AdamW, SGD} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ops := NewCPUOps()
			opt, err := NewOptimizer(name)
			must(t, err)
			p := newPlanted(t, ops, KindConv)

			straight, err := New(ops, p.spec, opt, 7)
			must(t, err)
			trainEpochs(t, straight, p, 4)

			first, err := New(ops, p.spec, opt, 7)
			must(t, err)
			trainEpochs(t, first, p, 2)
			path := filepath.Join(t.TempDir(), "head.safetensors")
			must(t, first.Save(path, []string{"a", "b", "c", "d"}, []byte(`{"epoch":2}`)))
			first.Close()

			resumed, ck, err := Load(ops, path)
			must(t, err)
			if string(ck.Trainer) != `{"epoch":2}` || ck.Classes[3] != "d" || resumed.Step != first.Step {
				t.Fatalf("checkpoint metadata did not round-trip: %+v", ck)
			}
			trainEpochs(t, resumed, p, 2)

			want, _ := straight.Params()
			got, _ := resumed.Params()
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("parameter %d: resumed %v, uninterrupted %v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestInTopK(t *testing.T) {
	z := []float32{0.1, 0.9, 0.5, 0.5, 0.2, 0.3, 0.0}
	// Ranks: 1 (0.9), 2 and 3 (0.5, tie broken by index), 5, 4, 0, 6.
	for y, want := range map[int]bool{1: true, 2: true, 3: true, 5: true, 4: true, 0: false, 6: false} {
		if InTopK(z, y, 5) != want {
			t.Errorf("class %d in top 5: %v, want %v", y, !want, want)
		}
	}
}
