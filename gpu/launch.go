package gpu

import (
	"fmt"

	"github.com/graft-ml/graft/gpu/plan"
)

// module is the loaded head.cu and its kernels.
type module struct {
	mod Module
	convFwd, convWgrad, splitkReduce, poolRows, gatherPool, denseFwd,
	softmaxXent, denseBwd, unpoolReLU, sumRows, optimizerStep kernel
	// The tensor-core GEMMs (sm_80 and newer).
	convFwdTF32, convFwdBF16, convWgradTF32, convWgradBF16 kernel
}

// kernel is one function of the module.
type kernel struct {
	name string
	fn   Function
	// slots is how many blocks of a GEMM kernel run at once on the whole
	// device (its own occupancy: registers and shared memory differ from
	// kernel to kernel); split-K sizes its grid with it. 0 for the others.
	slots int
}

// loadModule loads the kernels into the current context. Inside do.
func loadModule(ctx Context, multiprocessors int) (*module, error) {
	mod, err := ctx.LoadModule()
	if err != nil {
		return nil, err
	}
	m := &module{mod: mod}
	for _, k := range []struct {
		dst  *kernel
		name string
		gemm bool
	}{
		{&m.convFwd, "conv_fwd", true}, {&m.convWgrad, "conv_wgrad", true}, {&m.splitkReduce, "splitk_reduce", false},
		{&m.poolRows, "pool_rows", false}, {&m.gatherPool, "gather_pool", false}, {&m.denseFwd, "dense_fwd", false},
		{&m.softmaxXent, "softmax_xent", false}, {&m.denseBwd, "dense_bwd", false}, {&m.unpoolReLU, "unpool_relu", false},
		{&m.sumRows, "sum_rows", false}, {&m.optimizerStep, "optimizer_step", false},
		{&m.convFwdTF32, "conv_fwd_tf32", true}, {&m.convFwdBF16, "conv_fwd_bf16", true},
		{&m.convWgradTF32, "conv_wgrad_tf32", true}, {&m.convWgradBF16, "conv_wgrad_bf16", true},
	} {
		fn, err := mod.Function(k.name)
		if err != nil {
			_ = mod.Unload()
			return nil, cudaError("kernel "+k.name, err)
		}
		*k.dst = kernel{name: k.name, fn: fn}
		if !k.gemm {
			continue
		}
		// Each GEMM's own occupancy at its block size (all 256 threads).
		// The tensor-core kernels trap before sm_80 and are never
		// launched there; their figure is unused.
		perSM, err := fn.MaxActiveBlocksPerSM(gemmThreads)
		if err != nil {
			_ = mod.Unload()
			return nil, cudaError("occupancy of "+k.name, err)
		}
		k.dst.slots = max(1, perSM) * multiprocessors
	}
	return m, nil
}

// slots is how many blocks of a GEMM family's forward and weight-gradient
// kernels run at once on the device, each its own figure.
func (m *module) slots(g gemmGeom) plan.Slots {
	return plan.Slots{Fwd: g.fwd(m).slots, Wgrad: g.wgrad(m).slots}
}

func (m *module) unload() error { return cudaError("unload the kernels", m.mod.Unload()) }

// The kernels' fixed geometry (head.cu's TILE_M, TILE_N, TILE_K, THREADS).
const (
	gemmTile    = 128
	gemmK       = 8
	gemmThreads = 256
	blockSize   = 256
)

// linear covers n threads with blocks of blockSize, capped for
// grid-stride loops.
func linear(n int) Dim3 { return Dim3{min(max(1, ceilDiv(n, blockSize)), 1<<16), 1, 1} }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// launch issues k on stream s. Launch errors (bad configuration, a sticky
// fault of an earlier kernel) come back here; faults of this kernel
// surface at the next synchronising call.
func (k kernel) launch(s Stream, grid Dim3, block int, args ...Arg) error {
	if err := k.fn.Launch(grid, block, args, s); err != nil {
		return cudaError(fmt.Sprintf("launch %s grid (%d,%d,%d) block %d", k.name, grid.X, grid.Y, grid.Z, block), err)
	}
	return nil
}
