package train

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// writeDigitCNN writes a small Keras-layout CNN for 28x28x1 images whose
// graph starts with a Rescaling layer x*scale (scale 0: none).
func writeDigitCNN(t *testing.T, scale float32) string {
	t.Helper()
	w := func(shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.Float32, shape...)
		for i := range x.F32 {
			x.F32[i] = float32(i%5)*0.1 - 0.2
		}
		return x
	}
	s := savedmodel.NewSequential("sequential", "input_1", -1, 28, 28, 1)
	if scale != 0 {
		s = s.Rescaling("rescaling", scale, 0)
	}
	spec, err := s.Conv2D("conv2d", w(3, 3, 1, 4), w(4), 2, "SAME", "relu").
		GlobalAveragePooling2D("global_average_pooling2d").
		Dense("dense", w(4, 10), w(10), "softmax").Spec()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := savedmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A job without --preprocess on a backbone that rescales its own input
// (a Keras Rescaling layer) trains on raw pixels, records that and why,
// and says so; one without normalisation gets unit with a warning; an
// explicit mode stays.
func TestPreprocessAutoFollowsTheGraph(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 2)
	cases := []struct {
		name   string
		scale  float32
		given  string
		want   string
		reason string
		level  zapcore.Level
	}{
		{"rescaling, missing", 1.0 / 255, "", "raw", "sequential/rescaling/mul", zapcore.InfoLevel},
		{"rescaling, auto", 1.0 / 255, "auto", "raw", "normalises its input itself", zapcore.InfoLevel},
		{"none, missing", 0, "", "unit", "does not normalise its input", zapcore.WarnLevel},
		{"rescaling, unit given", 1.0 / 255, "unit", "unit", "--preprocess raw (or auto) is probably right", zapcore.WarnLevel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Backbone: writeDigitCNN(t, c.scale), Tap: "conv2d", Data: data, Preprocess: c.given, Head: "linear",
				Epochs: 1, CacheDir: "none", Out: filepath.Join(t.TempDir(), "run")}
			core, logs := observer.New(zapcore.DebugLevel)
			if _, err := Run(context.Background(), cfg, Options{Log: zap.New(core)}); err != nil {
				t.Fatal(err)
			}
			var rec Config
			if err := rundir.ReadJSON(cfg.Out, rundir.ConfigFile, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Preprocess != c.want || !strings.Contains(rec.PreprocessReason, c.reason) {
				t.Errorf("config.json: preprocess %q (%s), want %q with %q", rec.Preprocess, rec.PreprocessReason, c.want, c.reason)
			}
			said := logs.FilterMessage("preprocessing " + c.want).All()
			if len(said) != 1 || said[0].Level != c.level {
				t.Errorf("log %v, want one %v line 'preprocessing %s'", said, c.level, c.want)
			}
		})
	}
}
