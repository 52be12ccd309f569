package native

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	attrpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
)

// conv3x3Graph is x [-1, 16, 16, c] -> Conv2D(3x3, SAME, stride 1) with
// a constant filter of o outputs, held as a flattened graph holds it:
// decoded, and encoded in its NodeDef's value.
func conv3x3Graph(t *testing.T, c, o int) *savedmodel.Graph {
	w := tensor.New(tensor.Float32, 3, 3, c, o)
	for i := range w.F32 {
		w.F32[i] = float32(i%7) / 7
	}
	tp, err := savedmodel.TensorToProto(w)
	if err != nil {
		t.Fatal(err)
	}
	return graphOf([]*framework.NodeDef{
		nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32), "shape": aShape(-1, 16, 16, int64(c))}),
		nodeDef("w", "Const", nil, attrMap{"dtype": aType(tensor.Float32), "value": {Value: &attrpb.AttrValue_Tensor{Tensor: tp}}}),
		nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1)),
	}, map[string]*tensor.Tensor{"w": w}, []string{"x"}, []string{"conv:0"})
}

// TestFixedByHand: one 3x3 convolution, C = O = 128, on a 16x16 map, a
// batch of 4 on 2 workers, counted by hand. The filter, 3*3*128*128
// floats, is the graph's constant (589824 bytes) and, encoded, its
// NodeDef's value once more; packed for the GEMM, 1152 x 128 (a multiple
// of every kernel's panel width) is 589824 bytes again. Winograd F(2x2):
// 16 transformed 128 x 128 matrices (1048576 bytes); 8x8 tiles a map,
// 16*(2*128+128) + 2*4*128 = 7168 floats of scratch a tile, so blocks of
// max(2 MiB / (8*7168), 48/8) = 9 tile rows of the 32; each worker's
// buffer 9 rows of (4*18*128 band + 8*7168) floats = 2396160 bytes. With
// im2col: 1024 rows of 1152, chunks of 2^18/1152 = 227 rows, each of the
// two workers' buffers 227*1152 floats = 1046016 bytes. Each worker also
// keeps one GEMM packing buffer. Without a packed GEMM kernel (gonum,
// -tags purego_noasm) nothing is packed: the filter serves as it is, the
// Winograd transforms are plain copies and the GEMM pools nothing.
func TestFixedByHand(t *testing.T) {
	defer func(env string) { winoEnv = env }(winoEnv)
	const filter = 3 * 3 * 128 * 128 * 4
	packed, gemmBuf := int64(filter), gemm.WorkerBytes(false)
	if gemm.PackedBytes(1, 1) == 0 { // no packed kernel (TestPackedBytes checks the figure)
		packed, gemmBuf = 0, 0
	}
	for _, tc := range []struct {
		env              string
		derived, scratch int64
	}{
		{"", packed + 16*128*128*4, 2 * 2396160},
		{"0", packed, 2 * 1046016},
	} {
		winoEnv = tc.env
		g := conv3x3Graph(t, 128, 128)
		e, err := New(g)
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.fixed(g, []int{-1, 16, 16, 128}, 4, 2)
		if err != nil {
			t.Fatal(err)
		}
		want := Fixed{Weights: filter, Nodes: f.Nodes, Derived: tc.derived, Scratch: tc.scratch + 2*gemmBuf}
		if f != want || f.Nodes < filter || f.Nodes > filter+1024 { // the value's bytes and a few names
			t.Errorf("GRAFT_NATIVE_WINOGRAD=%q: %+v; want %+v, nodes within 1 KiB over %d", tc.env, f, want, filter)
		}
	}
}

// TestFixedIsWhatTheHeapHolds measures what really stays on the Go heap
// (live bytes after a collection, the pools' buffers included) at each
// step of opening and running a backbone, and compares it with Fixed and
// WorkingSet: reading the graph (Weights + Nodes), building the engine
// (Derived but the Winograd transforms), and the first batch (the arena,
// the transforms, the workers' scratch). On the hand-sized convolution
// (with Winograd and with im2col) and, when built, ResNet50 (16 Winograd
// layers at 224) and EfficientNetB0 (squeeze-and-excitation) from
// build/peers; within 5% and 64 KiB (the maps, node structs and small
// tensors nothing counts). On one thread: with more, a worker that starts
// after another has finished takes that one's buffer from the pool, so
// that the pools may hold fewer than the one buffer a worker Fixed counts
// (TestFixedByHand checks the count per worker).
func TestFixedIsWhatTheHeapHolds(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	defer func(env string) { winoEnv = env }(winoEnv)
	const threads = 1
	type model struct {
		name string
		prep func() (*Prepared, error) // reads the graph
		n    int
		env  string
	}
	hand := func() (*Prepared, error) {
		return &Prepared{Graph: conv3x3Graph(t, 128, 128), Input: backbone.TensorSpec{Name: "x", DType: tensor.Float32, Shape: []int{-1, 16, 16, 128}}}, nil
	}
	models := []model{{"3x3 conv, Winograd", hand, 4, ""}, {"3x3 conv, im2col", hand, 4, "0"}}
	for _, name := range []string{"ResNet50", "EfficientNetB0"} {
		dir, _ := filepath.Abs(filepath.Join("../../build/peers/models", name, "keras3/model"))
		if _, err := os.Stat(dir); err != nil {
			t.Logf("%s: %v", name, err)
			continue
		}
		m, err := savedmodel.Load(dir, "serve")
		if err != nil {
			t.Fatal(err)
		}
		// The meta graph is read before the first measure: Fixed leaves it out.
		models = append(models, model{name, func() (*Prepared, error) { return Prepare(dir, Options{Model: m}) }, 1, ""})
	}
	for _, m := range models {
		winoEnv = m.env
		// Two collections empty every pool (the first moves its buffers
		// to the victim cache, the second drops them): the run must not
		// reuse an earlier test's buffers.
		runtime.GC()
		h0 := liveHeap()
		p, err := m.prep()
		if err != nil {
			t.Fatal(err)
		}
		h1 := liveHeap()
		in := p.Input.Shape
		x := tensor.New(tensor.Float32, m.n, in[1], in[2], in[3])
		for i := range x.F32 {
			x.F32[i] = float32(i%255) / 255
		}
		h1x := liveHeap()
		e, err := New(p.Graph)
		if err != nil {
			t.Fatal(err)
		}
		h2 := liveHeap()
		// The output is the arena's last buffer, held until it is read.
		out, err := e.Run(context.Background(), map[string]*tensor.Tensor{p.Graph.Inputs[0]: x})
		if err != nil {
			t.Fatal(err)
		}
		h3 := liveHeap()

		f, err := e.fixed(p.Graph, in, m.n, threads)
		if err != nil {
			t.Fatal(err)
		}
		winoEnv = "0" // the same engine with no Winograd: its transforms' share of Derived
		f0, err := e.fixed(p.Graph, in, m.n, threads)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := e.workingSet(p.Graph.Inputs[0], in, m.n)
		if err != nil {
			t.Fatal(err)
		}
		transforms := f.Derived - f0.Derived
		for _, step := range []struct {
			what          string
			measured, est int64
		}{
			{"reading the graph", h1 - h0, f.Weights + f.Nodes},
			{"building the engine", h2 - h1x, f.Derived - transforms},
			{"the first batch", h3 - h2, ws + transforms + f.Scratch},
		} {
			t.Logf("%s, %s: %.2f MB on the heap; %.2f MB counted", m.name, step.what, float64(step.measured)/1e6, float64(step.est)/1e6)
			if d := math.Abs(float64(step.measured - step.est)); d > 0.05*float64(step.est)+64<<10 {
				t.Errorf("%s, %s: the heap grew %d bytes; Fixed and WorkingSet count %d", m.name, step.what, step.measured, step.est)
			}
		}
		runtime.KeepAlive(p)
		runtime.KeepAlive(e)
		runtime.KeepAlive(x)
		runtime.KeepAlive(out)
	}
}

// liveHeap is the heap's live bytes after a collection. A collection
// moves the pools' buffers to their victim caches, where they still
// count (and stay for the next Get).
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
