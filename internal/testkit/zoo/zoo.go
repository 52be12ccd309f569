package zoo

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/graft-ml/graft/backbone/tensor"
)

// Tol is the parity bound: max |ours - TF| <= Tol * max |TF|.
const Tol = 1e-4

// looser holds the models that need a wider bound on an engine ("" for
// every engine), each with its reason.
var looser = map[[2]string]struct {
	tol    float64
	reason string
}{
	{"EfficientNetV2B0", ""}: {5e-4, "its signature output is sensitive to summation order: TensorFlow's own kernels " +
		"(graft's TensorFlow engine) differ from TensorFlow's unoptimised run by 1.9e-4, the native engine with the " +
		"Go-assembly GEMM by 2.4e-4"},
	{"InceptionV3", "native"}: {3e-4, "with the zoo's photo inputs (issue 25) the Keras 3 model's signature output " +
		"(softmax over 1000 classes) moves by 1.8e-4 on the native engine while its three taps stay within 1e-4; " +
		"TensorFlow's own optimised run of the tf-keras-written InceptionV3 differs from its unoptimised run by 5.0e-5"},
	{"ConvNeXtTiny", "tensorflow"}: {3e-3, "graft's TensorFlow engine runs the frozen graph with Grappler on, whose " +
		"remapper fuses ConvNeXt's layer norm and GELU and moves the output by 2.5e-3: TensorFlow's own optimised " +
		"run of the frozen model differs from its unoptimised run by the same 2.5e-3"},
}

// Tolerance is the bound for one model on one engine and the reason when
// it is not Tol.
func Tolerance(model, engine string) (float64, string) {
	for _, k := range [][2]string{{model, engine}, {model, ""}} {
		if l, ok := looser[k]; ok {
			return l.tol, l.reason
		}
	}
	return Tol, ""
}

// Case is one model written one way.
type Case struct {
	Model, Format string
	// Dir is the case's folder; SavedModel the model's folder in it.
	Dir, SavedModel string
	Input           *tensor.Tensor
	// Images are the input batch as PNG files (absolute paths) and
	// Preprocess the graft --preprocess mode that turns them into Input.
	Images     []string
	Preprocess string
	// Probes are other photos (PNG, absolute paths) than the input batch
	// and the calibration batch the model's statistics come from: what
	// --preprocess auto reads the statistics with.
	Probes []string
	// TFOptimizedErr is the relative error of TensorFlow's own optimised
	// run (Grappler on) at the signature output against the stored
	// (unoptimised) output: the yardstick for graft's errors.
	TFOptimizedErr float64
	// Outputs are TensorFlow's values: Tap "" is the signature output,
	// any other a tap name as graft accepts it.
	Outputs []Output
}

// Output is TensorFlow's value of one tensor.
type Output struct {
	Tap  string
	Want *tensor.Tensor
}

// Name is "model/format".
func (c *Case) Name() string { return c.Model + "/" + c.Format }

type manifest struct {
	Model      string   `json:"model"`
	Format     string   `json:"format"`
	SavedModel string   `json:"saved_model"`
	Input      array    `json:"input"`
	Images     []string `json:"images"`
	Preprocess string   `json:"preprocess"`
	Probes     []string `json:"probe_images"`
	TFOptErr   float64  `json:"tf_optimized_rel_err"`
	Outputs    []struct {
		Tap string `json:"tap"`
		array
	} `json:"outputs"`
}

type array struct {
	File  string `json:"file"`
	Shape []int  `json:"shape"`
}

// Root is the zoo folder: $GRAFT_ZOO, else build/zoo in the repository
// (found from the working directory up to go.mod). It skips t when the zoo
// has not been generated.
func Root(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("GRAFT_ZOO")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "build", "zoo")
				break
			}
			if filepath.Dir(d) == d {
				t.Fatalf("zoo: no go.mod above %s", wd)
			}
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("zoo: %s is missing: run `make zoo` (TensorFlow writes the models, a few minutes) or set GRAFT_ZOO", dir)
	}
	return dir
}

// Cases loads every case under root (root/<model>/<format>/manifest.json),
// sorted by name. A zoo with no case is an error: it was not generated
// completely.
func Cases(root string) ([]*Case, error) {
	files, err := filepath.Glob(filepath.Join(root, "*", "*", "manifest.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("zoo: no */*/manifest.json under %s: run `make zoo` again", root)
	}
	sort.Strings(files)
	var cs []*Case
	for _, f := range files {
		c, err := Load(filepath.Dir(f))
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// Load reads one case folder.
func Load(dir string) (*Case, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("zoo: %s/manifest.json: %w", dir, err)
	}
	c := &Case{Model: m.Model, Format: m.Format, Dir: dir, SavedModel: filepath.Join(dir, m.SavedModel), Preprocess: m.Preprocess, TFOptimizedErr: m.TFOptErr}
	for _, f := range m.Images {
		c.Images = append(c.Images, filepath.Join(dir, f))
	}
	for _, f := range m.Probes {
		c.Probes = append(c.Probes, filepath.Join(dir, f))
	}
	if c.Input, err = readF32(dir, m.Input); err != nil {
		return nil, err
	}
	for _, o := range m.Outputs {
		t, err := readF32(dir, o.array)
		if err != nil {
			return nil, err
		}
		c.Outputs = append(c.Outputs, Output{Tap: o.Tap, Want: t})
	}
	return c, nil
}

// readF32 reads a raw little-endian float32 file of the given shape.
func readF32(dir string, a array) (*tensor.Tensor, error) {
	b, err := os.ReadFile(filepath.Join(dir, a.File))
	if err != nil {
		return nil, err
	}
	n := tensor.NumElements(a.Shape)
	if len(b) != 4*n {
		return nil, fmt.Errorf("zoo: %s/%s has %d bytes, shape %v needs %d", dir, a.File, len(b), a.Shape, 4*n)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return tensor.FromFloat32(v, a.Shape...)
}

// ErrShape reports outputs of different shapes.
var ErrShape = errors.New("zoo: shapes differ")

// RelErr is max |got - want| / max |want|; NaN anywhere in got is +Inf.
func RelErr(got, want *tensor.Tensor) (float64, error) {
	if got == nil || !sameShape(got.Shape, want.Shape) || len(got.F32) != len(want.F32) {
		var s []int
		if got != nil {
			s = got.Shape
		}
		return math.Inf(1), fmt.Errorf("%w: got %v, want %v", ErrShape, s, want.Shape)
	}
	var diff, scale float64
	for i, w := range want.F32 {
		g := float64(got.F32[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1), nil
		}
		diff = math.Max(diff, math.Abs(g-float64(w)))
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	if scale == 0 {
		return diff, nil
	}
	return diff / scale, nil
}

// sameShape compares shapes exactly.
func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Top1 is, for each row of TensorFlow's [N, K] output want, its best class,
// or -1 where its two best classes are within 2*tol*max|want| of each
// other, so that an error inside the bound could swap them.
func Top1(want *tensor.Tensor, tol float64) []int {
	if len(want.Shape) != 2 {
		return nil
	}
	k := want.Shape[1]
	scale := 0.0
	for _, v := range want.F32 {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	var out []int
	for r := 0; r < want.Shape[0]; r++ {
		w := want.F32[r*k : (r+1)*k]
		best := ArgMax(w)
		second := math.Inf(-1)
		for j, v := range w {
			if j != best {
				second = math.Max(second, float64(v))
			}
		}
		if float64(w[best])-second <= 2*tol*scale {
			best = -1
		}
		out = append(out, best)
	}
	return out
}

// ArgMax is the index of the largest value (the first on ties).
func ArgMax(v []float32) int {
	best := 0
	for j, x := range v {
		if x > v[best] {
			best = j
		}
	}
	return best
}
