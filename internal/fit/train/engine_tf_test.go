//go:build tensorflow

package train

import (
	"context"
	"math"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// TestEnginesShareTheCache: the cache key leaves the engine out (both
// give the same features to float32 rounding), so a TensorFlow run reads
// what a native run cached; and on its own the TensorFlow engine trains to
// the native run's loss.
func TestEnginesShareTheCache(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 5)
	nat := smallConfig(t, data, 2)
	sn, err := Run(context.Background(), nat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	shared := smallConfig(t, data, 2)
	shared.Engine, shared.Device, shared.CacheDir = engine.TensorFlow, api.MustDevice("cpu"), nat.CacheDir
	ss, err := Run(context.Background(), shared, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sn.CacheComputed != 50 || ss.CacheHits != 50 || ss.CacheComputed != 0 {
		t.Errorf("native computed %d; tensorflow after it: %d hits, %d computed; want 50, 50, 0", sn.CacheComputed, ss.CacheHits, ss.CacheComputed)
	}
	own := smallConfig(t, data, 2)
	own.Engine, own.Device = engine.TensorFlow, api.MustDevice("cpu")
	so, err := Run(context.Background(), own, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if so.CacheComputed != 50 {
		t.Errorf("tensorflow on its own cache: %d computed, want 50", so.CacheComputed)
	}
	a, b := params(t, nat.Out+"/head.safetensors"), params(t, own.Out+"/head.safetensors")
	worst, scale := 0.0, 0.0
	for i := range a {
		worst = math.Max(worst, math.Abs(float64(a[i]-b[i])))
		scale = math.Max(scale, math.Abs(float64(a[i])))
	}
	if worst > 1e-3*scale {
		t.Errorf("heads trained on native and TensorFlow features differ by %g (weights up to %g)", worst, scale)
	}
}
