package native

import (
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
)

// Fixed is the memory a native backbone holds besides the arena
// (WorkingSet): the graph and what the engine makes of it, which grow
// with the model, and the scratch its workers keep pooled, which grows
// with the layers' shapes and the threads. None of it grows in
// proportion to the batch, so a plan adds it once rather than per image.
type Fixed struct {
	// Weights are the graph's constants, decoded (Graph.Consts).
	Weights int64 `json:"weights"`
	// Nodes are the graph's NodeDefs at their encoded size: a constant's
	// value attribute holds its bytes once more (the graph the
	// TensorFlow engine imports).
	Nodes int64 `json:"nodes"`
	// Derived is what the engine makes from the constants and keeps:
	// folded constants, filters with batch norm folded in and their
	// biases, filters packed for the GEMM, and the Winograd transforms
	// of the 3x3 filters (made at their first run).
	Derived int64 `json:"derived"`
	// Scratch is the buffers each worker keeps pooled between
	// convolutions, at their largest over the layers, times the workers:
	// im2col's patch rows (colPool), Winograd's blocks (winoPool) and the
	// GEMM's packing buffers.
	Scratch int64 `json:"scratch"`
}

// Bytes is the total.
func (f Fixed) Bytes() int64 { return f.Weights + f.Nodes + f.Derived + f.Scratch }

// kernelMem is what one kernel holds besides its outputs (kernel.memory).
type kernelMem struct {
	kept      int64       // made at load or at the first run, kept for the engine's life
	consts    [][]float32 // values it keeps that may be the graph's constants (counted once)
	col, wino int64       // bytes of the largest buffer one worker takes from colPool, winoPool
	gemm      bool        // runs the GEMM: one pooled packing buffer per worker
	gemmB     bool        // on a B not packed beforehand (the buffer holds B's block too)
}

// plus is what two kernels run one after the other hold: both kept, the
// larger of their per-worker buffers.
func (a kernelMem) plus(b kernelMem) kernelMem {
	return kernelMem{
		kept: a.kept + b.kept, consts: append(slices.Clip(a.consts), b.consts...),
		col: max(a.col, b.col), wino: max(a.wino, b.wino),
		gemm: a.gemm || b.gemm, gemmB: a.gemmB || b.gemmB,
	}
}

// Memory is what the native engine needs to run a graph, for plans made
// before any image is decoded.
type Memory struct {
	// PerImage is the arena's working set of one image (WorkingSet at
	// batch 1): it grows in proportion to the batch.
	PerImage int64 `json:"per_image"`
	// Fixed is the rest, at batches of up to the n asked for.
	Fixed Fixed `json:"fixed"`
}

// Memory is the backbone's Memory running batches of up to n images on
// threads workers (<= 0: GOMAXPROCS). The scratch grows with the batch
// only until every worker's buffers reach their cap, so the figure at
// the largest batch bounds every smaller one. The SavedModel's own meta
// graph (a few MB for a Keras model; its constants are the graph's) is
// not counted.
func (b *Backbone) Memory(n, threads int) (Memory, error) {
	return b.engine.memory(b.graph, b.input.Shape, n, threads)
}

// Memory is the Backbone's Memory for the engine p's graph would get; it
// builds that engine once (with its packed filters: about a second and
// the model's size again for ResNet50), then drops it.
func (p *Prepared) Memory(n, threads int) (Memory, error) {
	if err := fixedInput(p.Input.Shape, n); err != nil {
		return Memory{}, err
	}
	e, err := New(p.Graph)
	if err != nil {
		return Memory{}, err
	}
	return e.memory(p.Graph, p.Input.Shape, n, threads)
}

func (e *Engine) memory(g *savedmodel.Graph, in []int, n, threads int) (Memory, error) {
	if err := fixedInput(in, n); err != nil {
		return Memory{}, err
	}
	per, err := e.workingSet(g.Inputs[0], in, 1)
	if err != nil {
		return Memory{}, err
	}
	f, err := e.fixed(g, in, n, threads)
	return Memory{PerImage: per, Fixed: f}, err
}

func (e *Engine) fixed(g *savedmodel.Graph, in []int, n, threads int) (Fixed, error) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	shape := slices.Clone(in)
	shape[0] = n
	shapes, err := e.inferWith(map[string][]int{g.Inputs[0]: shape}, n, foldLimit)
	if err != nil {
		return Fixed{}, err
	}
	var f Fixed
	seen := map[unsafe.Pointer]bool{}
	// once counts a buffer the first time it is seen: a folded filter
	// may be the graph's constant itself.
	once := func(p unsafe.Pointer, bytes int64) int64 {
		if p == nil || seen[p] {
			return 0
		}
		seen[p] = true
		return bytes
	}
	tensorBytes := func(t *tensor.Tensor) int64 {
		if t == nil {
			return 0
		}
		switch {
		case t.F32 != nil:
			return once(unsafe.Pointer(unsafe.SliceData(t.F32)), 4*int64(cap(t.F32)))
		case t.F64 != nil:
			return once(unsafe.Pointer(unsafe.SliceData(t.F64)), 8*int64(cap(t.F64)))
		case t.I32 != nil:
			return once(unsafe.Pointer(unsafe.SliceData(t.I32)), 4*int64(cap(t.I32)))
		case t.I64 != nil:
			return once(unsafe.Pointer(unsafe.SliceData(t.I64)), 8*int64(cap(t.I64)))
		case t.B != nil:
			return once(unsafe.Pointer(unsafe.SliceData(t.B)), int64(cap(t.B)))
		}
		return 0
	}
	for _, c := range g.Consts {
		f.Weights += tensorBytes(c)
	}
	for _, nd := range g.Nodes {
		f.Nodes += int64(proto.Size(nd))
	}
	var col, wino int64
	var usesGemm, unpacked bool
	for _, nd := range e.nodes {
		f.Derived += tensorBytes(nd.konst)
		if nd.k == nil || nd.k.memory == nil {
			continue
		}
		ins := make([][]int, len(nd.inputs))
		for j, r := range nd.inputs {
			ins[j] = shapes[fmt.Sprintf("%s:%d", e.nodes[r.node].name(), r.out)]
		}
		if len(ins) == 0 || ins[0] == nil {
			continue
		}
		m := nd.k.memory(ins, threads)
		f.Derived += m.kept
		for _, c := range m.consts {
			f.Derived += once(unsafe.Pointer(unsafe.SliceData(c)), 4*int64(cap(c)))
		}
		col, wino = max(col, m.col), max(wino, m.wino)
		usesGemm, unpacked = usesGemm || m.gemm, unpacked || m.gemmB
	}
	// A pool keeps at most one buffer per worker: a buffer too small for
	// the next layer is replaced, not kept beside the new one.
	f.Scratch = int64(threads) * (col + wino)
	if usesGemm {
		f.Scratch += int64(threads) * gemm.WorkerBytes(unpacked)
	}
	return f, nil
}
