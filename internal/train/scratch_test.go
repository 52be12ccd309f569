package train

import (
	"context"
	"testing"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/internal/testmodules"
)

// Issue 15, defect 2: features that fit the device but leave no room for
// a step's scratch must stream, not fail at step 1. The CUDA ops run on
// the fake driver (no kernels run, so the numbers trained are
// meaningless; the memory they take is real).
func TestScratchIsReservedBeforeTheFeatures(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 6) // 48 training samples, 12 for validation, 7x7x64 each
	cfg := smallConfig(t, data, 1)
	ops, _, err := gpu.NewFakeOps(gpu.Options{}, gpu.FakeDevice{MemoryBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	if _, err := Run(context.Background(), cfg, Options{Ops: ops}); err != nil {
		t.Fatal(err)
	}
	// Everything resident: the head's state, the scratch, both feature sets.
	all := ops.PeakBytes()
	const val = 12 * 7 * 7 * 64 * 4
	// A budget with room for the head's state, the training features and
	// the validation features, but not for the scratch too.
	budget := all - val - 4096
	tight, _, err := gpu.NewFakeOps(gpu.Options{MemoryBudget: budget}, gpu.FakeDevice{MemoryBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer tight.Close()
	cfg = smallConfig(t, data, 1)
	if _, err := Run(context.Background(), cfg, Options{Ops: tight}); err != nil {
		t.Fatalf("budget %d of %d (everything resident): %v", budget, all, err)
	}
	if tight.PeakBytes() > budget {
		t.Errorf("peak %d over the budget %d", tight.PeakBytes(), budget)
	}
}
