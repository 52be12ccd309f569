//go:build tensorflow

package train

import (
	"context"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/gpu/gputest"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// TestTensorFlowFeaturesToTheHeadsDevice: with CUDA ops (the fake driver)
// and the TensorFlow engine, a run extracts the features straight into
// the device's buffers through the eager engine, and the summary says how
// they got there: TensorFlow on the CPU hands host pointers, so every
// sample, cached or computed, is an upload (on a GPU the computed ones
// are copied device to device: never run here).
func TestTensorFlowFeaturesToTheHeadsDevice(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 3)
	warm := smallConfig(t, testmodules.Digits(t, "train", 0, 2), 1)
	warm.Engine, warm.Device = engine.TensorFlow, api.MustDevice("cpu")
	if _, err := Run(context.Background(), warm, Options{}); err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig(t, data, 1)
	cfg.Engine, cfg.Device, cfg.CacheDir = engine.TensorFlow, api.MustDevice("cpu"), warm.CacheDir
	ops, _, err := gputest.NewOps(gpu.Options{MemoryBudget: 256 << 20}, gputest.Device{})
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	s, err := Run(context.Background(), cfg, Options{Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	if s.CacheHits != 20 || s.CacheComputed != 10 {
		t.Errorf("%d cache hits, %d computed; want 20, 10", s.CacheHits, s.CacheComputed)
	}
	if s.FeaturesUploaded != 30 || s.FeaturesDeviceToDevice != 0 {
		t.Errorf("summary: %d uploaded, %d device to device; want 30, 0", s.FeaturesUploaded, s.FeaturesDeviceToDevice)
	}
}

// Issue 27, defect 7: with features extracted onto the device (the eager
// engine), the steps' scratch is reserved before the feature buffers, as
// on the host path (TestScratchIsReservedBeforeTheFeatures): features that
// would leave a step no room go to the host and stream.
func TestScratchIsReservedBeforeTheDeviceFeatures(t *testing.T) {
	scratchBeforeFeatures(t, func(cfg *Config) {
		cfg.Engine, cfg.Device, cfg.CacheDir = engine.TensorFlow, api.MustDevice("cpu"), "none"
	})
}

// Augmented views extracted onto the device by the eager engine, or
// streamed when they leave no room.
func TestAugmentedViewsOnTheDeviceFeatures(t *testing.T) {
	scratchBeforeFeatures(t, func(cfg *Config) {
		cfg.Engine, cfg.Device, cfg.CacheDir = engine.TensorFlow, api.MustDevice("cpu"), "none"
		cfg.Augment, cfg.Views = "flip,rotation=0.1", 2
	})
}
