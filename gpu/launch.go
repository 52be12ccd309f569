//go:build cuda

package gpu

import (
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/graft-ml/graft/kernels"
)

// module is the loaded head.fatbin and its kernels.
type module struct {
	mod cu.Module
	convFwd, convWgrad, splitkReduce, poolRows, gatherPool, denseFwd,
	softmaxXent, denseBwd, unpoolReLU, sumRows, optimizerStep kernel
	// gemmSlots is how many GEMM blocks run at once on the whole device.
	gemmSlots int
}

// kernel is one function of the module.
type kernel struct {
	name string
	fn   cu.Function
}

// loadModule loads the embedded fatbin into the current context; the
// driver picks the SASS for the device or JIT-compiles the PTX.
func loadModule(multiprocessors int) (*module, error) {
	if len(kernels.Fatbin) == 0 {
		return nil, fmt.Errorf("%w: the embedded kernels are empty: run make kernels and rebuild", ErrCUDA)
	}
	mod, err := cu.LoadData(kernels.Fatbin)
	if err != nil {
		return nil, fmt.Errorf("%w (no SASS for this GPU and its driver cannot JIT the compute_80/compute_70 PTX?)", cudaError("load the kernel fatbin", err))
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
	} {
		fn, err := mod.Function(k.name)
		if err != nil {
			_ = mod.Unload()
			return nil, cudaError("kernel "+k.name, err)
		}
		*k.dst = kernel{name: k.name, fn: fn}
	}
	perSM, err := m.convFwd.fn.MaxActiveBlocksPerMultiProcessor(gemmThreads, 0)
	if err != nil {
		_ = mod.Unload()
		return nil, cudaError("occupancy of conv_fwd", err)
	}
	m.gemmSlots = max(1, perSM) * multiprocessors
	return m, nil
}

func (m *module) unload() error { return cudaError("unload the kernels", m.mod.Unload()) }

// The kernels' fixed geometry (head.cu's TILE_M, TILE_N, TILE_K, THREADS).
const (
	gemmTile    = 128
	gemmK       = 8
	gemmThreads = 256
	blockSize   = 256
)

// dim3 is a grid's size.
type dim3 struct{ x, y, z int }

// linear covers n threads with blocks of blockSize, capped for
// grid-stride loops.
func linear(n int) dim3 { return dim3{min(max(1, ceilDiv(n, blockSize)), 1<<16), 1, 1} }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// arg is one kernel argument, 8 bytes as gorgonia/cu's launcher copies
// them: device pointers, int64 and float64 (head.cu's long long and
// double parameters).
type arg uint64

func ptrArg(p cu.DevicePtr) arg { return arg(p) }
func intArg(v int) arg          { return arg(uint64(int64(v))) }
func boolArg(v bool) arg {
	if v {
		return 1
	}
	return 0
}
func floatArg(v float64) arg { return arg(math.Float64bits(v)) }

// launch runs k on the default stream. Launch errors (bad configuration,
// a sticky fault of an earlier kernel) come back here; faults of this
// kernel surface at the next synchronising call.
func (k kernel) launch(grid dim3, block int, args ...arg) error {
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	if err := k.fn.Launch(grid.x, grid.y, grid.z, block, 1, 1, 0, cu.NoStream, params); err != nil {
		return cudaError(fmt.Sprintf("launch %s grid (%d,%d,%d) block %d", k.name, grid.x, grid.y, grid.z, block), err)
	}
	return nil
}
