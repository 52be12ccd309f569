package inspect

import (
	"math"
	"testing"

	"github.com/graft-ml/graft/backbone/tensor"
)

// Distance against hand-computed symmetric KL divergences.
func TestDistance(t *testing.T) {
	f := func(v []float32, shape ...int) *tensor.Tensor {
		x, err := tensor.FromFloat32(v, shape...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cases := []struct {
		name            string
		x, mean, varnce *tensor.Tensor
		eps, want       float64
	}{
		// batch N(2, 1) vs N(0, 1): KL each way 2, sum 4.
		{"shifted mean", f([]float32{1, 3}, 2, 1), f([]float32{0}, 1), f([]float32{1}, 1), 0, 4},
		// batch N(0, 1) vs N(0, 4): ((1-4)^2)/(2*1*4) = 1.125.
		{"wrong spread", f([]float32{-1, 1}, 2, 1), f([]float32{0}, 1), f([]float32{4}, 1), 0, 1.125},
		// The same two channels, the second scaled by 10 on both sides:
		// the mean over channels is unchanged (4 and 4).
		{"scale free", f([]float32{1, 10, 3, 30}, 1, 2, 2), f([]float32{0, 0}, 2), f([]float32{1, 100}, 2), 0, 4},
		// eps is added to both variances: batch var 1+1, moving 1+1, means 2 apart: 4/2 = 2.
		{"epsilon", f([]float32{1, 3}, 2, 1), f([]float32{0}, 1), f([]float32{1}, 1), 1, 2},
		{"identical", f([]float32{1, 3}, 2, 1), f([]float32{2}, 1), f([]float32{1}, 1), 0, 0},
	}
	for _, c := range cases {
		got, err := Distance(c.x, c.mean, c.varnce, c.eps)
		if err != nil || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: Distance = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := Distance(f([]float32{1, 2, 3}, 1, 3), f([]float32{0, 0}, 2), f([]float32{1, 1}, 2), 0); err == nil {
		t.Error("Distance accepted 3 channels against 2 statistics")
	}
}
