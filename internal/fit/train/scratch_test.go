package train

import (
	"context"
	"testing"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/gpu/gputest"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// Issue 15, defect 2: features that fit the device but leave no room for
// a step's scratch must stream, not fail at step 1. The CUDA ops run on
// the fake driver (no kernels run, so the numbers trained are
// meaningless; the memory they take is real).
func TestScratchIsReservedBeforeTheFeatures(t *testing.T) {
	scratchBeforeFeatures(t, func(*Config) {})
}

// scratchBeforeFeatures runs a small job (set changes its config) with
// everything resident on the fake device, then again under a budget with
// room for the head's state and both feature sets but not the scratch
// too: the second run must stream its features and stay in the budget.
func scratchBeforeFeatures(t *testing.T, set func(*Config)) {
	t.Helper()
	data := testmodules.Digits(t, "train", 0, 6) // 48 training samples, 12 for validation, 7x7x64 each
	run := func(o gpu.Options) *gpu.CUDAOps {
		ops, _, err := gputest.NewOps(o, gputest.Device{MemoryBytes: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ops.Close() })
		cfg := smallConfig(t, data, 1)
		set(&cfg)
		if _, err := Run(context.Background(), cfg, Options{Ops: ops}); err != nil {
			t.Fatalf("budget %d: %v", o.MemoryBudget, err)
		}
		return ops
	}
	// Everything resident: the head's state, the scratch, both feature sets.
	all := run(gpu.Options{}).PeakBytes()
	const val = 12 * 7 * 7 * 64 * 4
	budget := all - val - 4096
	if tight := run(gpu.Options{MemoryBudget: budget}); tight.PeakBytes() > budget {
		t.Errorf("peak %d over the budget %d (everything resident: %d)", tight.PeakBytes(), budget, all)
	}
}

// Augmented views on the CUDA ops (the fake driver): the head trains from
// features wherever they were made, so the views go on the device, or
// stream to it through gpu.FeatureStream, like any features.
func TestAugmentedViewsOnTheCUDAOps(t *testing.T) {
	scratchBeforeFeatures(t, func(cfg *Config) { cfg.Augment, cfg.Views = "flip,rotation=0.1", 2 })
}
