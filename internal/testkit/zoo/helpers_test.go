package zoo_test

import (
	"testing"

	"github.com/graft-ml/graft/backbone/tensor"
)

func mustF32(t *testing.T, v []float32, shape ...int) *tensor.Tensor {
	t.Helper()
	x, err := tensor.FromFloat32(v, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
