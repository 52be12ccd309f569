package head

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/util/safetensors"
)

// wantErr fails unless err wraps target and mentions every hint.
func wantErr(t *testing.T, what string, err, target error, hints ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if !errors.Is(err, target) {
		t.Errorf("%s: error %q does not wrap %v", what, err, target)
	}
	for _, h := range hints {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("%s: error %q does not mention %q", what, err, h)
		}
	}
}

func TestBadSpecs(t *testing.T) {
	ok := DefaultSpec(7, 7, 8, 3)
	cases := map[string]struct {
		mutate func(*Spec)
		hint   string
	}{
		"zero classes":  {func(s *Spec) { s.Classes = 0 }, "at least 2"},
		"zero height":   {func(s *Spec) { s.Height = 0 }, "tap tensor"},
		"even kernel":   {func(s *Spec) { s.Kernel = 2 }, "odd"},
		"no filters":    {func(s *Spec) { s.Filters = 0 }, "conv:N, N >= 1"},
		"unknown kind":  {func(s *Spec) { s.Kind = "mlp" }, "linear"},
		"smoothing = 1": {func(s *Spec) { s.LabelSmoothing = 1 }, "[0, 1)"},
	}
	for name, c := range cases {
		s := ok
		c.mutate(&s)
		_, err := New(NewCPUOps(), s, Optimizer{Name: Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}, 1)
		wantErr(t, name, err, ErrSpec, c.hint)
	}
	if _, err := New(NewCPUOps(), ok, Optimizer{Name: Adam}, 1); err == nil || !strings.Contains(err.Error(), "learning rate") {
		t.Errorf("zero learning rate: %v", err)
	}
}

func TestBadFeatures(t *testing.T) {
	ops := NewCPUOps()
	spec := DefaultSpec(3, 3, 2, 2)
	_, err := UploadFeatures(ops, spec, make([]float32, 3*3*2*2+1))
	wantErr(t, "ragged features", err, ErrShape, "3x3x2", "tap")

	nan := make([]float32, 3*3*2*2)
	nan[20] = float32(math.NaN())
	_, err = UploadFeatures(ops, spec, nan)
	wantErr(t, "NaN feature", err, ErrNonFinite, "sample 1")
	_, err = PlaceFeatures(ops, spec, nan) // in place, checked alike
	wantErr(t, "NaN feature placed", err, ErrNonFinite, "sample 1")
	_, err = PlaceFeatures(ops, spec, make([]float32, 3*3*2*2+1))
	wantErr(t, "ragged features placed", err, ErrShape, "3x3x2", "tap")

	// Features cached for one shape fed to a head of another.
	m, err := New(ops, spec, mustOpt(t), 1)
	must(t, err)
	other, err := UploadFeatures(ops, DefaultSpec(4, 4, 2, 2), make([]float32, 4*4*2*3))
	must(t, err)
	_, err = m.TrainBatch(other, []int32{0}, []int32{0})
	wantErr(t, "feature shape mismatch", err, ErrShape, "not a whole number")

	feats, err := UploadFeatures(ops, spec, make([]float32, 3*3*2*2))
	must(t, err)
	_, err = m.TrainBatch(feats, []int32{0, 5}, []int32{0, 1})
	wantErr(t, "index out of range", err, ErrShape, "index 5")
	_, err = m.TrainBatch(feats, []int32{0}, []int32{2})
	wantErr(t, "label out of range", err, ErrShape, "label 2")
}

func TestNonFiniteLoss(t *testing.T) {
	ops := NewCPUOps()
	spec := Spec{Height: 1, Width: 1, Channels: 1, Kind: KindLinear, Classes: 2}
	m, err := New(ops, spec, mustOpt(t), 1)
	must(t, err)
	// A huge parameter makes the logits overflow to Inf.
	must(t, ops.Upload(m.params, 0, []float32{float32(math.Inf(1)), 0, 0, 0}))
	feats, err := UploadFeatures(ops, spec, []float32{1})
	must(t, err)
	_, err = m.TrainBatch(feats, []int32{0}, []int32{1})
	wantErr(t, "inf loss", err, ErrNonFinite, "learning rate")
}

func mustOpt(t *testing.T) Optimizer {
	t.Helper()
	o, err := NewOptimizer(Adam)
	must(t, err)
	return o
}

func TestBadCheckpoints(t *testing.T) {
	ops := NewCPUOps()
	dir := t.TempDir()
	m, err := New(ops, DefaultSpec(3, 3, 2, 2), mustOpt(t), 1)
	must(t, err)
	good := filepath.Join(dir, "good.safetensors")
	must(t, m.Save(good, nil, nil))
	raw, err := os.ReadFile(good)
	must(t, err)

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, b, 0o644))
		return p
	}
	var noMeta bytes.Buffer
	must(t, safetensors.Write(&noMeta, []safetensors.Tensor{{Name: "x", Shape: []int{1}, Data: []float32{1}}}, nil))
	wrongSpec := bytes.Replace(raw, []byte(`\"classes\":2`), []byte(`\"classes\":3`), 1)

	cases := map[string]struct {
		path string
		hint string
	}{
		"truncated":       {write("trunc", raw[:len(raw)-100]), "truncated"},
		"header only":     {write("short", raw[:5]), "too short"},
		"not safetensors": {write("json", []byte(`{"hello": "world"}`)), "header length"},
		"foreign file":    {write("foreign", noMeta.Bytes()), "not a graft head checkpoint"},
		"wrong spec":      {write("spec", wrongSpec), "shape"},
	}
	for name, c := range cases {
		_, _, err := Load(ops, c.path)
		wantErr(t, name, err, ErrCheckpoint, c.hint, c.path)
	}
	if _, _, err := Load(ops, filepath.Join(dir, "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestPlaceFeaturesSharesHostMemory: on the CPU the placed buffer is the
// caller's slice (no second copy of a training set), and what the head
// reads through it is what the caller holds.
func TestPlaceFeaturesSharesHostMemory(t *testing.T) {
	ops := NewCPUOps()
	spec := DefaultSpec(3, 3, 2, 2)
	host := make([]float32, 2*spec.FeatureSize())
	for i := range host {
		host[i] = float32(i)
	}
	buf, err := PlaceFeatures(ops, spec, host)
	must(t, err)
	got := make([]float32, len(host))
	must(t, ops.Download(got, buf, 0))
	if b, ok := buf.(cpuBuffer); !ok || &b[0] != &host[0] || got[len(got)-1] != host[len(host)-1] {
		t.Errorf("PlaceFeatures on the CPU copied the features (or lost them)")
	}
}
