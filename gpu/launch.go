package gpu

import "fmt"

// module is the loaded head.cu and its kernels.
type module struct {
	mod driverModule
	convFwd, convWgrad, splitkReduce, poolRows, gatherPool, denseFwd,
	softmaxXent, denseBwd, unpoolReLU, sumRows, optimizerStep kernel
	// The tensor-core GEMMs (sm_80 and newer).
	convFwdTF32, convFwdBF16, convWgradTF32, convWgradBF16 kernel
	// gemmSlots and tcSlots are how many SIMT and tensor-core GEMM
	// blocks run at once on the whole device.
	gemmSlots, tcSlots int
}

// kernel is one function of the module.
type kernel struct {
	name string
	fn   driverFunction
}

// loadModule loads the kernels into the current context. Inside do.
func loadModule(ctx devContext, multiprocessors int) (*module, error) {
	mod, err := ctx.loadModule()
	if err != nil {
		return nil, err
	}
	m := &module{mod: mod}
	for _, k := range []struct {
		dst  *kernel
		name string
	}{
		{&m.convFwd, "conv_fwd"}, {&m.convWgrad, "conv_wgrad"}, {&m.splitkReduce, "splitk_reduce"},
		{&m.poolRows, "pool_rows"}, {&m.gatherPool, "gather_pool"}, {&m.denseFwd, "dense_fwd"},
		{&m.softmaxXent, "softmax_xent"}, {&m.denseBwd, "dense_bwd"}, {&m.unpoolReLU, "unpool_relu"},
		{&m.sumRows, "sum_rows"}, {&m.optimizerStep, "optimizer_step"},
		{&m.convFwdTF32, "conv_fwd_tf32"}, {&m.convFwdBF16, "conv_fwd_bf16"},
		{&m.convWgradTF32, "conv_wgrad_tf32"}, {&m.convWgradBF16, "conv_wgrad_bf16"},
	} {
		fn, err := mod.function(k.name)
		if err != nil {
			_ = mod.unload()
			return nil, cudaError("kernel "+k.name, err)
		}
		*k.dst = kernel{name: k.name, fn: fn}
	}
	perSM, err := m.convFwd.fn.maxActiveBlocksPerSM(gemmThreads)
	if err != nil {
		_ = mod.unload()
		return nil, cudaError("occupancy of conv_fwd", err)
	}
	m.gemmSlots = max(1, perSM) * multiprocessors
	// The tensor-core kernels' own occupancy (their registers and 48 KiB
	// of shared memory a block); on GPUs before sm_80 they trap and are
	// never launched.
	if perSM, err = m.convFwdTF32.fn.maxActiveBlocksPerSM(gemmThreads); err != nil {
		_ = mod.unload()
		return nil, cudaError("occupancy of conv_fwd_tf32", err)
	}
	m.tcSlots = max(1, perSM) * multiprocessors
	return m, nil
}

// slots is how many blocks of a GEMM family run at once on the device.
func (m *module) slots(g gemmGeom) int {
	if g.kStep == simtGeom.kStep {
		return m.gemmSlots
	}
	return m.tcSlots
}

func (m *module) unload() error { return cudaError("unload the kernels", m.mod.unload()) }

// The kernels' fixed geometry (head.cu's TILE_M, TILE_N, TILE_K, THREADS).
const (
	gemmTile    = 128
	gemmK       = 8
	gemmThreads = 256
	blockSize   = 256
)

// linear covers n threads with blocks of blockSize, capped for
// grid-stride loops.
func linear(n int) dim3 { return dim3{min(max(1, ceilDiv(n, blockSize)), 1<<16), 1, 1} }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// launch issues k on stream s. Launch errors (bad configuration, a sticky
// fault of an earlier kernel) come back here; faults of this kernel
// surface at the next synchronising call.
func (k kernel) launch(s stream, grid dim3, block int, args ...arg) error {
	if err := k.fn.launch(grid, block, args, s); err != nil {
		return cudaError(fmt.Sprintf("launch %s grid (%d,%d,%d) block %d", k.name, grid.x, grid.y, grid.z, block), err)
	}
	return nil
}
