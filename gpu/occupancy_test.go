package gpu_test

import (
	"testing"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/gpu/gputest"
	"github.com/graft-ml/graft/head"
)

// Issue 27, defect 6: each GEMM kernel's split-K is sized with its own
// occupancy, not conv_fwd_tf32's (or conv_fwd's) for all of them. The fake
// gives every GEMM kernel a different figure; each launch's split count
// must be what splitK gives for that kernel's figure.
func TestGEMMSplitsUseEachKernelsOccupancy(t *testing.T) {
	spec := head.Spec{Height: 7, Width: 7, Channels: 2048, Kind: head.KindConv, Filters: 256, Kernel: 3, Classes: 10}
	const sms, batch = 132, 32
	perSM := map[string]int{
		"conv_fwd": 1, "conv_wgrad": 2,
		"conv_fwd_tf32": 2, "conv_wgrad_tf32": 3,
		"conv_fwd_bf16": 4, "conv_wgrad_bf16": 3,
	}
	for _, c := range []struct {
		prec       gpu.Precision
		fwd, wgrad string
	}{
		{gpu.PrecisionFP32, "conv_fwd", "conv_wgrad"},
		{gpu.PrecisionTF32, "conv_fwd_tf32", "conv_wgrad_tf32"},
		{gpu.PrecisionBF16, "conv_fwd_bf16", "conv_wgrad_bf16"},
	} {
		t.Run(string(c.prec), func(t *testing.T) {
			want := map[string]int{}
			want[c.fwd], _ = gpu.GEMMSplits(spec, batch, c.prec, perSM[c.fwd]*sms, 1)
			_, want[c.wgrad] = gpu.GEMMSplits(spec, batch, c.prec, 1, perSM[c.wgrad]*sms)
			// The test means something only if another kernel's figure
			// would give another split count.
			other, _ := gpu.GEMMSplits(spec, batch, c.prec, perSM[c.wgrad]*sms, 1)
			_, otherW := gpu.GEMMSplits(spec, batch, c.prec, 1, perSM[c.fwd]*sms)
			if other == want[c.fwd] || otherW == want[c.wgrad] {
				t.Fatalf("occupancies %v give the same splits either way (%d, %d): pick others", perSM, want[c.fwd], want[c.wgrad])
			}
			ops, f := fakeOpsWith(t, gpu.Options{Precision: c.prec}, gputest.Device{Multiprocessors: sms, MemoryBytes: 8 << 30, KernelBlocksPerSM: perSM})
			trainStep(t, ops, spec, batch, batch) // evaluation at the same batch
			seen := map[string]bool{}
			for _, l := range f.Calls() {
				n, ok := want[l.Kernel]
				if !ok {
					continue
				}
				seen[l.Kernel] = true
				if l.Grid.Z != n {
					t.Errorf("%s: %d splits, want %d (its own occupancy, %d blocks per SM)", l.Kernel, l.Grid.Z, n, perSM[l.Kernel])
				}
			}
			if !seen[c.fwd] || !seen[c.wgrad] {
				t.Errorf("launches %v: want %s and %s", f.Launches(), c.fwd, c.wgrad)
			}
		})
	}
}
