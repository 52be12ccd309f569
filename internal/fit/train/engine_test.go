package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/internal/infer/predict"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

func TestEngineSetting(t *testing.T) {
	c := smallConfig(t, "data", 1)
	j, err := job.FromRecord(c)
	if err != nil {
		t.Fatal(err)
	}
	if j.Engine != engine.Native {
		t.Errorf("default engine %q, want native", j.Engine)
	}
	for _, tc := range []struct {
		engine   string
		fraction float64
		field    string
	}{
		{"onnx", 0, "engine"},
		{engine.Native, 0.5, "tf_memory_fraction"},
		{engine.TensorFlow, 1.5, "tf_memory_fraction"},
		{engine.TensorFlow, -0.5, "tf_memory_fraction"},
	} {
		bad := c
		bad.Engine, bad.TFMemoryFraction = api.Engine(tc.engine), tc.fraction
		var fe FieldErrors
		if _, err := job.FromRecord(bad); !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != tc.field {
			t.Errorf("engine %q, fraction %g: %v, want one error on %s", tc.engine, tc.fraction, err, tc.field)
		}
	}
	ok := c
	ok.Engine, ok.TFMemoryFraction = engine.TensorFlow, 0.3
	if _, err := job.FromRecord(ok); err != nil {
		t.Errorf("tensorflow engine with a fraction: %v", err)
	}
}

func TestTensorFlowEngineWithoutTensorFlow(t *testing.T) {
	if tf.Available {
		t.Skip("built with -tags tensorflow")
	}
	cfg := smallConfig(t, testmodules.Digits(t, "train", 0, 2), 1)
	cfg.Engine = engine.TensorFlow
	if _, err := Run(context.Background(), cfg, Options{}); !errors.Is(err, tf.ErrNoTensorFlow) {
		t.Errorf("tensorflow engine in an untagged build: %v, want ErrNoTensorFlow", err)
	}
}

// TestRunWithoutEngineSettingLoads: runs written before the engine setting
// (no "engine" in config.json) load on the native engine.
func TestRunWithoutEngineSettingLoads(t *testing.T) {
	cfg := smallConfig(t, testmodules.Digits(t, "train", 0, 3), 1)
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.Out, rundir.ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(b), `"engine": "native",`, "", 1)
	if old == string(b) {
		t.Fatalf("config.json has no engine setting:\n%s", b)
	}
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := predict.LoadRun(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if s := tr.Backbone.Tap().Shape; len(s) != 4 {
		t.Errorf("tap shape %v", s)
	}
}
