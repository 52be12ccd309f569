package inspect

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// pyenv is the Python with TensorFlow that `make pyenv` builds.
const pyenv = "../../build/pyenv/bin/python"

// Keras models saved by TensorFlow itself (scripts/python/normalizing_models.py):
// tf-keras and Keras 3, Rescaling and Lambda layers, SavedModel by
// model.save, tf.saved_model.save and model.export. The expected
// arithmetic is what the script's layers say.
func TestDetectNormalizationKerasSavedByTensorFlow(t *testing.T) {
	if _, err := os.Stat(pyenv); err != nil {
		t.Skip("no TensorFlow: run make pyenv")
	}
	out := t.TempDir()
	cmd := exec.Command(pyenv, "../../scripts/python/normalizing_models.py", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("normalizing_models.py: %v\n%s", err, b)
	}
	cases := []struct {
		model         string
		found         bool
		scale, offset float64
		expects       string
		auto          string
	}{
		{"tfkeras_rescaling", true, 1.0 / 255, 0, "raw", "raw"},
		{"tfkeras_lambda", true, 1 / 127.5, -1, "raw", "raw"},
		{"keras3_rescaling", true, 2, -1, "unit", "unit"},
		{"tfkeras_plain", false, 0, 0, "", "unit"},
	}
	for _, c := range cases {
		n, err := DetectDir(nil, filepath.Join(out, c.model), nil, "")
		if err != nil {
			t.Errorf("%s: %v", c.model, err)
			continue
		}
		if n.Found() != c.found || n.Expects != c.expects || ChoosePreprocess(Auto, n, nil).Mode != c.auto {
			t.Errorf("%s: %s, want expects %q, auto %s", c.model, n, c.expects, c.auto)
		}
		if c.found && (math.Abs(n.Scale[0]-c.scale) > 1e-6*c.scale || math.Abs(n.Offset[0]-c.offset) > 1e-6) {
			t.Errorf("%s: x*%v+%v, want x*%v+%v", c.model, n.Scale, n.Offset, c.scale, c.offset)
		}
	}
}
