//go:build tensorflow

package zoo_test

import (
	"testing"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/internal/zoo"
)

// TestTensorFlowEngineMatchesTensorFlow runs the zoo through graft's
// TensorFlow engine (the flat graph imported into libtensorflow) against
// TensorFlow's own outputs; it needs libtensorflow at run time (make
// test-tf).
func TestTensorFlowEngineMatchesTensorFlow(t *testing.T) {
	zoo.Parity(t, zoo.Root(t), "tensorflow", func(dir string, o native.Options) (backbone.Backbone, error) {
		return tf.Open(dir, tf.Options{Options: o, Device: "cpu"})
	})
}
