//go:build tensorflow

package tf

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// Checks that need the real libtensorflow (make test-tf) and, for the
// writer, Python TensorFlow from build/pyenv.

// fixtures are the SavedModels graft's writer made (testdata/models).
func fixtures(t *testing.T) []string {
	dirs, err := filepath.Glob("../../testdata/models/*")
	if err != nil || len(dirs) < 2 {
		t.Fatalf("fixtures: %v %v", dirs, err)
	}
	return dirs
}

// within fails unless got matches want to 1e-4 of want's largest |value|.
func within(t *testing.T, what string, got, want *tensor.Tensor) {
	t.Helper()
	if got == nil || !reflect.DeepEqual(got.Shape, want.Shape) || len(got.F32) != len(want.F32) {
		t.Fatalf("%s: got %v, want shape %v", what, got, want.Shape)
	}
	scale, worst := 0.0, 0.0
	for i, w := range want.F32 {
		scale = math.Max(scale, math.Abs(float64(w)))
		worst = math.Max(worst, math.Abs(float64(got.F32[i]-w)))
	}
	if scale == 0 || worst > 1e-4*scale {
		t.Errorf("%s: max |difference| %g, values up to %g (tolerance 1e-4 of that)", what, worst, scale)
	}
}

// randomBatch is n deterministic images for bb's input.
func randomBatch(shape []int, n int) *tensor.Tensor {
	x := tensor.New(tensor.Float32, n, shape[1], shape[2], shape[3])
	for i := range x.F32 {
		x.F32[i] = float32((i*7919+13)%257) / 256
	}
	return x
}

func TestFixturesMatchNative(t *testing.T) {
	for _, dir := range fixtures(t) {
		for _, o := range []native.Options{{}, {Tap: "conv2d_1"}, {Tap: "conv2d_2"}} {
			nb, err := native.Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			tb, err := Open(dir, Options{Options: o, Device: "cpu"})
			if err != nil {
				t.Fatalf("%s %+v: %v", dir, o, err)
			}
			if !reflect.DeepEqual(tb.Tap(), nb.Tap()) {
				t.Errorf("%s: TensorFlow tap %v, native %v", dir, tb.Tap(), nb.Tap())
			}
			x := randomBatch(nb.Input().Shape, 7)
			want, err := nb.Features(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tb.Features(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			within(t, filepath.Base(dir)+" "+tb.Tap().Name, got, want)
			tb.Close()
			nb.Close()
		}
	}
}

func TestLoadedLibrary(t *testing.T) {
	v, err := Version()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "2.") {
		t.Errorf("TensorFlow version %q", v)
	}
	if p, _ := Load(); !strings.Contains(p, "libtensorflow") {
		t.Errorf("loaded %q", p)
	}
}

// TestLoadFailure runs this test binary again with EnvLib pointing at no
// library: Open must return ErrNoLibTensorFlow saying how to install one.
func TestLoadFailure(t *testing.T) {
	if os.Getenv("GRAFT_TF_LOAD_CHILD") == "1" {
		_, err := Open(fashionCNN, Options{Device: "cpu"})
		if !errors.Is(err, ErrNoLibTensorFlow) {
			t.Fatalf("Open without a library: %v, want ErrNoLibTensorFlow", err)
		}
		os.Stdout.WriteString("ERROR: " + err.Error() + "\n")
		return
	}
	missing := filepath.Join(t.TempDir(), "libtensorflow.so.2")
	if err := os.WriteFile(missing, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLoadFailure$", "-test.v")
	cmd.Env = append(os.Environ(), "GRAFT_TF_LOAD_CHILD=1", EnvLib+"="+missing)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{"cannot load libtensorflow", missing, "make tf-deps build-tf", EnvLib} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the error does not say %q:\n%s", want, out)
		}
	}
}

func TestMissingDevice(t *testing.T) {
	_, err := Open(fashionCNN, Options{Device: "cuda:7"})
	if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "cuda:7") {
		t.Fatalf("Open on cuda:7: %v, want ErrOptions naming the device", err)
	}
}

// TestModelTensorFlowCannotImport: an op TensorFlow does not know
// (fashion_cnn with Relu renamed, same length, so the protobuf stays
// valid) is an error from Open, not a crash.
func TestModelTensorFlowCannotImport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	if err := os.CopyFS(dir, os.DirFS(fashionCNN)); err != nil {
		t.Fatal(err)
	}
	pb := filepath.Join(dir, "saved_model.pb")
	b, err := os.ReadFile(pb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pb, []byte(strings.ReplaceAll(string(b), "Relu", "Relq")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{Device: "cpu"})
	if err == nil || !strings.Contains(err.Error(), "Relq") {
		t.Fatalf("Open with an unknown op: %v, want an error naming Relq", err)
	}
}

// writerCNN is a model written by graft's writer with the layers and
// options the fixtures do not all have (strides, VALID and SAME, linear).
func writerCNN(t *testing.T) string {
	ramp := func(shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.Float32, shape...)
		for i := range x.F32 {
			x.F32[i] = float32((i*37)%23-11) / 17
		}
		return x
	}
	spec, err := savedmodel.NewSequential("sequential", "conv2d_input", -1, 13, 11, 3).
		Conv2D("conv2d", ramp(3, 3, 3, 8), ramp(8), 2, "SAME", "relu").
		Conv2D("conv2d_1", ramp(2, 2, 8, 6), ramp(6), 1, "VALID", "linear").
		MaxPool2D("max_pooling2d", 2, 2, "SAME").
		GlobalAveragePooling2D("global_average_pooling2d").
		Dense("dense", ramp(6, 5), ramp(5), "softmax").
		Spec()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "written")
	if err := savedmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestWriterReadByTensorFlow: SavedModels graft writes load in Python
// TensorFlow (tf.saved_model.load) and give graft's outputs.
func TestWriterReadByTensorFlow(t *testing.T) {
	type job struct {
		Model  string `json:"model"`
		Input  string `json:"input"`
		Shape  []int  `json:"shape"`
		Output string `json:"output"`
	}
	tmp := t.TempDir()
	var jobs []job
	var want []*tensor.Tensor
	for i, dir := range append(fixtures(t), writerCNN(t)) {
		nb, err := native.Open(dir, native.Options{})
		if err != nil {
			t.Fatal(err)
		}
		x := randomBatch(nb.Input().Shape, 3)
		y, err := nb.Features(context.Background(), x)
		nb.Close()
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(tmp, "in"+string(rune('a'+i)))
		raw := make([]byte, 4*len(x.F32))
		for k, v := range x.F32 {
			binary.LittleEndian.PutUint32(raw[4*k:], math.Float32bits(v))
		}
		if err := os.WriteFile(in, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(dir)
		jobs = append(jobs, job{Model: abs, Input: in, Shape: x.Shape, Output: in + ".out"})
		want = append(want, y)
	}
	spec, _ := json.Marshal(jobs)
	jf := filepath.Join(tmp, "jobs.json")
	if err := os.WriteFile(jf, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testmodules.PythonTF(t), "../../scripts/python/tf_load_check.py", jf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tf.saved_model.load: %v\n%s", err, out)
	}
	for i, j := range jobs {
		raw, err := os.ReadFile(j.Output)
		if err != nil {
			t.Fatal(err)
		}
		var shape []int
		sb, err := os.ReadFile(j.Output + ".shape")
		if err != nil || json.Unmarshal(sb, &shape) != nil {
			t.Fatalf("%s: shape: %v", j.Model, err)
		}
		got := tensor.New(tensor.Float32, shape...)
		if len(raw) != 4*len(got.F32) {
			t.Fatalf("%s: %d bytes for shape %v", j.Model, len(raw), shape)
		}
		for k := range got.F32 {
			got.F32[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
		}
		within(t, filepath.Base(j.Model)+" in Python TensorFlow", got, want[i])
	}
}
