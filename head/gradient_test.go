package head

import (
	"math"
	"testing"
)

// Tolerance for float32 analytic gradients against float64 oracles:
// |ours - oracle| <= gradAbsTol + gradRelTol*|oracle|.
const (
	gradAbsTol = 2e-5
	gradRelTol = 1e-3
)

func checkGrad(t *testing.T, c gradCase, oracle []float64, ours []float32, what string) {
	t.Helper()
	for _, tn := range c.spec.Layout().Tensors {
		worst := 0.0
		for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
			diff := math.Abs(float64(ours[i]) - oracle[i])
			if diff > gradAbsTol+gradRelTol*math.Abs(oracle[i]) {
				t.Errorf("%s: %s[%d]: ours %.7g, %s %.7g", c.name, tn.Name, i-tn.Offset, ours[i], what, oracle[i])
				return
			}
			worst = math.Max(worst, diff)
		}
		t.Logf("%s: %s: max |ours - %s| = %.2g", c.name, tn.Name, what, worst)
	}
}

// TestGradientsFiniteDifferences checks every parameter's gradient against
// central differences of the independent float64 reference loss.
func TestGradientsFiniteDifferences(t *testing.T) {
	for _, c := range append(gradCases(), extrasCases()...) {
		ours, _, err := ourGradients(c)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		checkGrad(t, c, finiteDifferences(c), ours, "finite differences")
	}
}

// finiteDifferences is the central-difference gradient of the float64
// reference loss.
func finiteDifferences(c gradCase) []float64 {
	const eps = 1e-6
	numeric := make([]float64, len(c.params))
	p := append([]float64(nil), c.params...)
	for i := range p {
		orig := p[i]
		p[i] = orig + eps
		up := referenceLoss(c, p)
		p[i] = orig - eps
		down := referenceLoss(c, p)
		p[i] = orig
		numeric[i] = (up - down) / (2 * eps)
	}
	return numeric
}

// TestLossMatchesReference checks the forward pass's loss value.
func TestLossMatchesReference(t *testing.T) {
	for _, c := range append(gradCases(), extrasCases()...) {
		_, st, err := ourGradients(c)
		if err != nil {
			t.Fatal(err)
		}
		want := referenceLoss(c, c.params)
		if got := st.Loss / float64(st.Count); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: loss %.7g, reference %.7g", c.name, got, want)
		}
	}
}

// TestLogitsAgainstReference checks Logits on a batch larger than the
// chunks it runs Winograd in (and on the other ways) against the float64
// reference's logits, the samples picked out of order and repeated.
func TestLogitsAgainstReference(t *testing.T) {
	const batch = 2*winoLogitsChunk + 22
	c := newGradCase("logits", Spec{Height: 7, Width: 7, Channels: 16, Kind: KindConv, Filters: 8, Kernel: 3, Classes: 3}, batch, 11)
	for _, way := range []string{"", "taps", "winograd"} {
		t.Run(way, func(t *testing.T) {
			defer convolveBy(way)()
			ops := NewCPUOps()
			p, _ := ops.Alloc(len(c.params))
			if err := ops.Upload(p, 0, toF32(c.params)); err != nil {
				t.Fatal(err)
			}
			f, err := UploadFeatures(ops, c.spec, toF32(c.feats))
			if err != nil {
				t.Fatal(err)
			}
			idx := make([]int32, batch+5)
			for i := range idx {
				idx[i] = int32((i * 7) % batch)
			}
			out := make([]float32, len(idx)*c.spec.Classes)
			if err := ops.Logits(c.spec, p, f, idx, out); err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i, s := range idx {
				for j, want := range referenceLogits(c, c.params, int(s)) {
					worst = max(worst, math.Abs(float64(out[i*c.spec.Classes+j])-want))
				}
			}
			if worst > 1e-4 {
				t.Errorf("largest logit error %.3g", worst)
			}
		})
	}
}
