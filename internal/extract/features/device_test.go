package features

import (
	"errors"
	"math"
	"testing"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/head"
)

type hostBatch struct{ t *tensor.Tensor }

func (h hostBatch) Host() (*tensor.Tensor, error) { return h.t, nil }

// Issue 27, defect 7: features computed on the device are checked for
// NaN and Inf without a cache too (before, only the cache's copy was).
func TestDeviceFeaturesCheckedWithoutCache(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		x := tensor.New(tensor.Float32, 3, 2, 2, 1)
		for i := range x.F32 {
			x.F32[i] = float32(i)
		}
		if err := checkAndCache(hostBatch{x}, []int{4, 7, 9}, nil, nil, nil); err != nil {
			t.Fatalf("finite features: %v", err)
		}
		x.F32[2*4+1] = bad // sample 9's second feature
		err := checkAndCache(hostBatch{x}, []int{4, 7, 9}, nil, nil, nil)
		if !errors.Is(err, head.ErrNonFinite) {
			t.Fatalf("feature %v, no cache: %v, want ErrNonFinite", bad, err)
		}
		t.Log(err)
	}
}
