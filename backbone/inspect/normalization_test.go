package inspect

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

func ramp(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(i%7)*0.25 - 0.5
	}
	return t
}

// writeModel writes a Keras-layout CNN (6x6x3 input) whose graph starts
// with first (nil: straight into the conv) and returns its directory.
func writeModel(t *testing.T, first func(*savedmodel.Sequential) *savedmodel.Sequential) string {
	t.Helper()
	s := savedmodel.NewSequential("sequential", "input_1", -1, 6, 6, 3)
	if first != nil {
		s = first(s)
	}
	spec, err := s.Conv2D("conv2d", ramp(3, 3, 3, 4), ramp(4), 1, "SAME", "relu").
		GlobalAveragePooling2D("global_average_pooling2d").
		Dense("dense", ramp(4, 2), ramp(2), "softmax").
		Spec()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := savedmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestDetectNormalization(t *testing.T) {
	cases := []struct {
		name          string
		first         func(*savedmodel.Sequential) *savedmodel.Sequential
		last          string // the chain's last node, tapped to check the fold
		scale, offset float64
		expects       string // what the graph expects
		auto          string // what auto picks
		warn          bool
	}{
		{"rescaling 1/255", func(s *savedmodel.Sequential) *savedmodel.Sequential { return s.Rescaling("rescaling", 1.0/255, 0) },
			"sequential/rescaling/add", 1.0 / 255, 0, "raw", "raw", false},
		{"lambda x/127.5-1", func(s *savedmodel.Sequential) *savedmodel.Sequential { return s.Lambda("lambda", 127.5, 1) },
			"sequential/lambda/sub", 1 / 127.5, -1, "raw", "raw", false},
		{"rescaling 2x-1 (TF-Hub style, [0,1] in)", func(s *savedmodel.Sequential) *savedmodel.Sequential { return s.Rescaling("rescaling", 2, -1) },
			"sequential/rescaling/add", 2, -1, "unit", "unit", false},
		{"rescaling 1000x: neither", func(s *savedmodel.Sequential) *savedmodel.Sequential { return s.Rescaling("rescaling", 1000, 0) },
			"sequential/rescaling/add", 1000, 0, "", "unit", true},
		{"none", nil, "", 0, 0, "", "unit", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeModel(t, c.first)
			n, err := DetectDir(nil, dir, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			if n.Expects != c.expects {
				t.Errorf("expects %q, want %q (%s)", n.Expects, c.expects, n)
			}
			choice := ChoosePreprocess(Auto, n, nil)
			if choice.Mode != c.auto || choice.Warn != c.warn || !strings.HasPrefix(choice.Reason, "auto: ") {
				t.Errorf("auto chose %+v, want %s (warn %v)", choice, c.auto, c.warn)
			}
			if c.first == nil {
				if n.Found() {
					t.Errorf("found %s in a graph without arithmetic", n)
				}
				return
			}
			if len(n.Scale) != 1 || math.Abs(n.Scale[0]-c.scale) > 1e-6*math.Abs(c.scale) || math.Abs(n.Offset[0]-c.offset) > 1e-6 {
				t.Errorf("folded x*%v+%v, want x*%v+%v", n.Scale, n.Offset, c.scale, c.offset)
			}
			// The engine's own value of the chain's last node is the fold.
			bb, err := native.Open(dir, native.Options{Tap: c.last})
			if err != nil {
				t.Fatal(err)
			}
			defer bb.Close()
			x := tensor.New(tensor.Float32, 1, 6, 6, 3)
			for i := range x.F32 {
				x.F32[i] = float32(i * 7 % 256)
			}
			y, err := bb.Features(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range x.F32 {
				want := n.Scale[0]*float64(v) + n.Offset[0]
				if math.Abs(float64(y.F32[i])-want) > 1e-4*max(1, math.Abs(want)) {
					t.Fatalf("element %d: engine %v, fold %v", i, y.F32[i], want)
				}
			}
		})
	}
}

// An explicit mode that contradicts the graph's normalisation is kept but
// flagged.
func TestChoosePreprocessExplicit(t *testing.T) {
	n := Normalization{Nodes: []string{"mul"}, Scale: []float64{1.0 / 255}, Offset: []float64{0}, Expects: "raw"}
	if c := ChoosePreprocess("unit", n, nil); c.Mode != "unit" || !c.Warn || !strings.Contains(c.Reason, "--preprocess raw") {
		t.Errorf("%+v", c)
	}
	if c := ChoosePreprocess("raw", n, nil); c.Mode != "raw" || c.Warn {
		t.Errorf("%+v", c)
	}
}

// TensorFlow's half_plus_two (TF1: y = a*x + b with variables a=0.5,
// b=2) is such a chain as TensorFlow writes it.
func TestDetectNormalizationTensorFlowWritten(t *testing.T) {
	n, err := DetectDir(nil, testmodules.TFModel(t, "cc/saved_model/testdata/half_plus_two/00000123"), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !n.Found() || n.Scale[0] != 0.5 || n.Offset[0] != 2 {
		t.Errorf("half_plus_two: %s, want x*0.5+2", n)
	}
}
