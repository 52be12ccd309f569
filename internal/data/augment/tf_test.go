//go:build tensorflow

package augment

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// oracleCase is one transform with fixed parameters: what Go computes,
// and what scripts/python/augment_oracle.py asks TensorFlow for.
type oracleCase struct {
	Name   string         `json:"name"`
	Shape  [3]int         `json:"shape"`
	Op     string         `json:"op"`
	Params map[string]any `json:"params,omitempty"`
	goOut  func(img []float32, h, w, c int) []float32
}

// warped is Warp through m of a copy of img.
func warped(m func(h, w int) Matrix) func([]float32, int, int, int) []float32 {
	return func(img []float32, h, w, c int) []float32 {
		out := make([]float32, len(img))
		Warp(out, img, h, w, c, m(h, w))
		return out
	}
}

func inPlace(f func(img []float32, c int)) func([]float32, int, int, int) []float32 {
	return func(img []float32, h, w, c int) []float32 {
		out := append([]float32(nil), img...)
		f(out, c)
		return out
	}
}

// The oracle (make test-tf): each transform, with fixed parameters,
// against Keras's own layer (RandomRotation, RandomZoom,
// RandomTranslation with a range of one value, reflect, bilinear) or
// TensorFlow's op (flip_left_right, adjust_brightness and adjust_contrast
// clipped to 0..255, ImageProjectiveTransformV3 with a composed matrix),
// on noise images (the hardest case for interpolation), within 1/255 of
// the 0..255 range (the
// floats agree to float32 rounding: 0.01 is asserted).
func TestTransformsMatchTensorFlow(t *testing.T) {
	py := testmodules.PythonTF(t)
	var cases []oracleCase
	for _, sh := range [][3]int{{13, 17, 3}, {24, 24, 1}} {
		add := func(name, op string, params map[string]any, g func([]float32, int, int, int) []float32) {
			cases = append(cases, oracleCase{Name: name + "_" + string(rune('0'+sh[2])), Shape: sh, Op: op, Params: params, goOut: g})
		}
		for i, f := range []float64{0.1, -0.23, 0.5} {
			add("rotation"+string(rune('a'+i)), "rotation", map[string]any{"f": f}, warped(func(h, w int) Matrix { return RotationMatrix(f, h, w) }))
		}
		for i, z := range [][2]float64{{0.3, -0.2}, {-0.25, 0.1}} {
			add("zoom"+string(rune('a'+i)), "zoom", map[string]any{"h": z[0], "w": z[1]}, warped(func(h, w int) Matrix { return ZoomMatrix(1+z[0], 1+z[1], h, w) }))
		}
		add("zoomkeep", "zoom", map[string]any{"h": 0.2, "keep": true}, warped(func(h, w int) Matrix { return ZoomMatrix(1.2, 1.2, h, w) }))
		for i, tr := range [][2]float64{{0.1, -0.2}, {-0.37, 0.45}} {
			add("translation"+string(rune('a'+i)), "translation", map[string]any{"h": tr[0], "w": tr[1]},
				warped(func(h, w int) Matrix { return TranslationMatrix(tr[0]*float64(h), tr[1]*float64(w)) }))
		}
		add("flip", "flip", nil, warped(func(h, w int) Matrix { return FlipMatrix(w) }))
		add("brightness", "brightness", map[string]any{"delta": 40.5}, inPlace(func(img []float32, c int) { Brightness(img, 40.5) }))
		add("darker", "brightness", map[string]any{"delta": -61.2}, inPlace(func(img []float32, c int) { Brightness(img, -61.2) }))
		add("contrast", "contrast", map[string]any{"factor": 1.3}, inPlace(func(img []float32, c int) { Contrast(img, c, 1.3) }))
		add("flatter", "contrast", map[string]any{"factor": 0.6}, inPlace(func(img []float32, c int) { Contrast(img, c, 0.6) }))
		// A whole view's geometry (every transform, composed) through
		// TensorFlow's resampler: Warp with any matrix, reflections far
		// outside included.
		p := Params{Flip: true, Turns: 0.07, ZoomH: 1.3, ZoomW: 0.8, TransH: -0.2, TransW: 0.3}
		m := p.Matrix(sh[0], sh[1])
		add("composed", "matrix", map[string]any{"m": m[:]}, warped(func(h, w int) Matrix { return m }))
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := map[string][]float32{}
	for _, c := range cases {
		img := make([]float32, c.Shape[0]*c.Shape[1]*c.Shape[2])
		for i := range img {
			img[i] = float32(rng.IntN(256))
		}
		inputs[c.Name] = img
		testmodules.WriteF32(t, filepath.Join(dir, c.Name+".in.f32"), img)
	}
	raw, _ := json.Marshal(cases)
	if err := os.WriteFile(filepath.Join(dir, "cases.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, "../../../scripts/python/augment_oracle.py", dir).CombinedOutput(); err != nil {
		t.Fatalf("augment_oracle.py: %v\n%s", err, out)
	}
	for _, c := range cases {
		want := testmodules.ReadF32(t, filepath.Join(dir, c.Name+".out.f32"))
		got := c.goOut(inputs[c.Name], c.Shape[0], c.Shape[1], c.Shape[2])
		worst := 0.0
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		}
		t.Logf("%-14s %v: largest difference %.2g", c.Name, c.Shape, worst)
		if worst > 0.01 || len(got) != len(want) {
			t.Errorf("%s %v: differs from TensorFlow by up to %g (of 255)", c.Name, c.Shape, worst)
		}
	}
}
