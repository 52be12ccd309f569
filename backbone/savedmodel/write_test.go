package savedmodel

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	pb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone/tensor"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

func ramp(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(i%7)*0.25 - 0.5
	}
	return t
}

func testCNN(t *testing.T) *WriteSpec {
	t.Helper()
	spec, err := NewSequential("sequential", "conv2d_input", -1, 8, 8, 1).
		Conv2D("conv2d", ramp(3, 3, 1, 4), ramp(4), 1, "SAME", "relu").
		MaxPool2D("max_pooling2d", 2, 2, "VALID").
		Conv2D("conv2d_1", ramp(3, 3, 4, 4), ramp(4), 1, "SAME", "relu").
		GlobalAveragePooling2D("global_average_pooling2d").
		Dense("dense", ramp(4, 3), ramp(3), "softmax").
		Spec()
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestWriteRoundTrip(t *testing.T) {
	spec := testCNN(t)
	dir := filepath.Join(t.TempDir(), "model")
	if err := Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, spec); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.TFVersion != "2.15.0" {
		t.Fatalf("version %q", m.TFVersion)
	}
	s, err := m.Signature("serving_default")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v %+v", s.Inputs, s.Outputs) != "[{Key:conv2d_input Name:serving_default_conv2d_input:0 DType:float32 Shape:[-1 8 8 1]}] [{Key:dense Name:StatefulPartitionedCall:0 DType:float32 Shape:[-1 3]}]" {
		t.Fatalf("signature %+v %+v", s.Inputs, s.Outputs)
	}
	var keys []string
	for _, v := range m.Variables {
		keys = append(keys, v.Node+"="+v.Key)
	}
	if got := strings.Join(keys, " "); got != "conv2d/bias=layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE conv2d/kernel=layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE conv2d_1/bias=layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE conv2d_1/kernel=layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE dense/bias=layer_with_weights-2/bias/.ATTRIBUTES/VARIABLE_VALUE dense/kernel=layer_with_weights-2/kernel/.ATTRIBUTES/VARIABLE_VALUE" {
		t.Fatal(got)
	}
	g, err := m.FlattenSignature("")
	if err != nil {
		t.Fatal(err)
	}
	p := "StatefulPartitionedCall/StatefulPartitionedCall/sequential/"
	var ops []string
	for _, n := range g.Nodes {
		ops = append(ops, strings.TrimPrefix(n.Name, p)+":"+n.Op)
	}
	want := "serving_default_conv2d_input:Placeholder conv2d/Conv2D/ReadVariableOp:Const conv2d/Conv2D:Conv2D conv2d/BiasAdd/ReadVariableOp:Const conv2d/BiasAdd:BiasAdd conv2d/Relu:Relu max_pooling2d/MaxPool:MaxPool " +
		"conv2d_1/Conv2D/ReadVariableOp:Const conv2d_1/Conv2D:Conv2D conv2d_1/BiasAdd/ReadVariableOp:Const conv2d_1/BiasAdd:BiasAdd conv2d_1/Relu:Relu " +
		"global_average_pooling2d/Mean/reduction_indices:Const global_average_pooling2d/Mean:Mean dense/MatMul/ReadVariableOp:Const dense/MatMul:MatMul dense/BiasAdd/ReadVariableOp:Const dense/BiasAdd:BiasAdd dense/Softmax:Softmax " +
		"StatefulPartitionedCall/StatefulPartitionedCall/Identity:Identity StatefulPartitionedCall/Identity:Identity"
	if got := strings.Join(ops, " "); got != want {
		t.Fatalf("flattened:\n%s\nwant\n%s", got, want)
	}
	k := g.Consts[p+"conv2d_1/Conv2D/ReadVariableOp"]
	if fmt.Sprint(k.Shape) != "[3 3 4 4]" || fmt.Sprint(k.F32) != fmt.Sprint(spec.Variables[2].Value.F32) {
		t.Fatalf("kernel %v", k)
	}
	if got := g.Nodes[2].Input; fmt.Sprint(got) != "[serving_default_conv2d_input "+p+"conv2d/Conv2D/ReadVariableOp]" {
		t.Fatalf("conv inputs %v", got)
	}
	for tap, want := range map[string]string{
		"conv2d_1":               p + "conv2d_1/Relu:0",
		"max_pooling2d":          p + "max_pooling2d/MaxPool:0",
		"sequential/conv2d/Relu": p + "conv2d/Relu:0",
		"conv2d/BiasAdd":         p + "conv2d/BiasAdd:0",
	} {
		if got, err := m.ResolveTensor("", tap); err != nil || got != want {
			t.Errorf("tap %q = %q, %v; want %q", tap, got, err, want)
		}
	}
	if _, err := m.ResolveTensor("", "conv2d_2"); !errors.Is(err, ErrUnknownTensor) || !strings.Contains(err.Error(), "conv2d_1") {
		t.Errorf("got %v", err)
	}
	// The checkpoint's object graph names every variable's key.
	og, err := m.Bundle().Read(CheckpointGraphKey)
	if err != nil {
		t.Fatal(err)
	}
	var tog pb.TrackableObjectGraph
	if err := proto.Unmarshal(og.S[0], &tog); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, node := range tog.Nodes {
		for _, a := range node.Attributes {
			if _, ok := m.Bundle().Entry(a.CheckpointKey); ok {
				n++
			}
		}
	}
	if n != 6 || len(tog.Nodes) != len(m.MetaGraph().ObjectGraphDef.Nodes) {
		t.Fatalf("object graph: %d keys, %d/%d nodes", n, len(tog.Nodes), len(m.MetaGraph().ObjectGraphDef.Nodes))
	}
}

// TestWriteLayoutMatchesTF compares the writer's main graph and saver
// functions with a SavedModel TensorFlow 2.9 wrote for a tf.Module.
func TestWriteLayoutMatchesTF(t *testing.T) {
	tf := mustLoad(t, "python/compiler/tensorrt/test/testdata/tf_readvariableop_saved_model")
	dir := filepath.Join(t.TempDir(), "model")
	if err := Write(dir, testCNN(t)); err != nil {
		t.Fatal(err)
	}
	ours, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	mainOps := func(m *Model) string {
		var ops []string
		for _, n := range m.MetaGraph().GraphDef.Node {
			if n.Op == "VarHandleOp" || n.Op == "ReadVariableOp" || (n.Op == "Placeholder" && n.Name != "saver_filename") {
				continue
			}
			ops = append(ops, n.Name+":"+n.Op)
		}
		return strings.Join(ops, " ")
	}
	if a, b := mainOps(tf), mainOps(ours); a != b {
		t.Errorf("main graph:\n tf   %s\n ours %s", a, b)
	}
	funcOps := func(m *Model, prefix string) string {
		for name, f := range m.funcs {
			if strings.HasPrefix(name, prefix) {
				set := map[string]bool{}
				for _, n := range f.NodeDef {
					set[n.Op] = true
				}
				return strings.Join(sortedKeys(set), " ")
			}
		}
		return ""
	}
	for _, fn := range []string{"__inference__traced_save_", "__inference__traced_restore_", "__inference_signature_wrapper_"} {
		if a, b := funcOps(tf, fn), funcOps(ours, fn); a != b {
			t.Errorf("%s ops:\n tf   %s\n ours %s", fn, a, b)
		}
	}
	sd := ours.MetaGraph().SaverDef
	td := tf.MetaGraph().SaverDef
	if proto.Equal(sd, td) == false {
		t.Errorf("saver_def %v vs %v", sd, td)
	}
}

// TestBundleWriterMatchesTF re-encodes TensorFlow-written checkpoints and
// expects identical bytes: same SSTable layout, entries and checksums.
func TestBundleWriterMatchesTF(t *testing.T) {
	for _, rel := range []string{
		"python/compiler/tensorrt/test/testdata/tf_readvariableop_saved_model",
		"cc/saved_model/testdata/VarsAndArithmeticObjectGraph",
		"cc/saved_model/testdata/half_plus_two/00000123",
	} {
		prefix := filepath.Join(testmodules.TFModel(t, rel), "variables", "variables")
		b, err := OpenBundle(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if b.shards != 1 {
			t.Logf("%s: %d shards, skipped", rel, b.shards)
			continue
		}
		t.Logf("%s: comparing %d entries", rel, len(b.keys))
		keys := b.Keys()
		sort.Slice(keys, func(i, j int) bool { return b.entries[keys[i]].Offset < b.entries[keys[j]].Offset })
		w := NewBundleWriter()
		for _, k := range keys {
			v, err := b.Read(k)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Add(k, v); err != nil {
				t.Fatal(err)
			}
		}
		idx, data, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		wantData, _ := os.ReadFile(b.ShardPath(0))
		wantIdx, _ := os.ReadFile(prefix + ".index")
		if !bytes.Equal(data, wantData) {
			t.Errorf("%s: data shard differs (%d vs %d bytes)", rel, len(data), len(wantData))
		}
		if !bytes.Equal(idx, wantIdx) {
			t.Errorf("%s: index differs (%d vs %d bytes)", rel, len(idx), len(wantIdx))
		}
	}
}

func TestHalfFloat(t *testing.T) {
	for _, f := range []float32{0, 1, -2, 0.5, 65504, 6.1035156e-05, 5.9604645e-08, -0.33325195} {
		if g := halfToFloat(FloatToHalf(f)); g != f {
			t.Errorf("%v -> %v", f, g)
		}
	}
	if h := FloatToHalf(1.0 / 3); halfToFloat(h) != 0.33325195 {
		t.Errorf("1/3 -> %v", halfToFloat(h))
	}
}

func TestDigestFollowsContent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	if err := Write(dir, testCNN(t)); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := m.Digest(); a != b || len(a) != 64 {
		t.Fatalf("digest not stable: %s %s", a, b)
	}
	// Change one weight byte: the digest must change.
	data := filepath.Join(dir, "variables", "variables.data-00000-of-00001")
	raw, _ := os.ReadFile(data)
	raw[0] ^= 1
	os.WriteFile(data, raw, 0o644)
	if c, _ := m.Digest(); c == a {
		t.Error("digest ignores variable contents")
	}
}

// TestWriteFullDiskLeavesNothing: a disk that fills up while the variables
// are written gives the error, and neither the model folder nor its
// temporary sibling stays behind.
func TestWriteFullDiskLeavesNothing(t *testing.T) {
	old := writeFile
	defer func() { writeFile = old }()
	writeFile = func(path string, data []byte) error {
		if strings.Contains(path, "variables.data") {
			return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return old(path, data)
	}
	parent := t.TempDir()
	err := Write(filepath.Join(parent, "model"), testCNN(t))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("full disk: %v", err)
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// Keras 3's export writes layer conv2d under the scope "conv2d_1": the
// layer's name finds it, and an existing scope of that exact name still
// wins over the suffixed one.
func TestResolveKeras3Scopes(t *testing.T) {
	spec, err := NewSequential("sequential_1", "keras_tensor", -1, 8, 8, 1).
		Conv2D("conv2d_1", ramp(3, 3, 1, 4), ramp(4), 1, "SAME", "relu").
		MaxPool2D("max_pooling2d_1", 2, 2, "VALID").
		MaxPool2D("pool", 1, 1, "VALID").
		MaxPool2D("pool_1", 1, 1, "VALID").
		Spec()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"conv2d":        "/sequential_1/conv2d_1/Relu:0",
		"max_pooling2d": "/sequential_1/max_pooling2d_1/MaxPool:0",
		"pool":          "/sequential_1/pool/MaxPool:0",
	} {
		got, err := m.ResolveTensor("", name)
		if err != nil || !strings.HasSuffix(got, want) {
			t.Errorf("ResolveTensor(%q) = %q, %v; want ...%s", name, got, err, want)
		}
	}
}
