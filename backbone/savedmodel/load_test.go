package savedmodel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/tensor"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

func mustLoad(t *testing.T, rel string, tags ...string) *Model {
	t.Helper()
	m, err := Load(testmodules.TFModel(t, rel), tags...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func nodeSet(g *Graph) string {
	var s []string
	for _, n := range g.Nodes {
		s = append(s, n.Name+"="+n.Op+"("+strings.Join(n.Input, ",")+")")
	}
	return strings.Join(s, " ")
}

func scalar(t *testing.T, g *Graph, name string) float32 {
	t.Helper()
	c, ok := g.Consts[name]
	if !ok || c.DType != tensor.Float32 || c.Len() != 1 {
		t.Fatalf("const %s: %v", name, c)
	}
	return c.F32[0]
}

func TestHalfPlusTwoTF1(t *testing.T) {
	for _, rel := range []string{"cc/saved_model/testdata/half_plus_two/00000123", "cc/saved_model/testdata/half_plus_two_pbtxt/00000123", "cc/saved_model/testdata/half_plus_two_v2/00000123"} {
		t.Run(filepath.Base(filepath.Dir(rel)), func(t *testing.T) {
			m := mustLoad(t, rel)
			if got := fmt.Sprint(m.SignatureKeys()); !strings.Contains(got, "classify_x_to_y regress_x2_to_y3 regress_x_to_y regress_x_to_y2 serving_default") {
				t.Fatalf("signatures %v", got)
			}
			s := m.Signatures["serving_default"]
			if len(s.Inputs) != 1 || s.Inputs[0].Name != "x:0" || s.Inputs[0].DType != tensor.Float32 || fmt.Sprint(s.Inputs[0].Shape) != "[-1 1]" || s.Outputs[0].Name != "y:0" {
				t.Fatalf("serving_default %+v", s)
			}
			// Generator (saved_model_half_plus_two.py): a=0.5, b=2, c=3.
			for node, want := range map[string]float32{"a": 0.5, "b": 2, "c": 3} {
				v, err := m.VariableValue(node)
				if err != nil || v.F32[0] != want {
					t.Fatalf("%s = %v, %v", node, v, err)
				}
			}
			g, err := m.FlattenSignature("")
			if err != nil {
				t.Fatal(err)
			}
			// The fed Identity x becomes a Placeholder; ParseExample disappears.
			if got := nodeSet(g); !strings.HasPrefix(got, "a=Const() a/read=Identity(a) x=Placeholder() Mul=Mul(a/read,x) b=Const() b/read=Identity(b)") || strings.Contains(got, "Parse") {
				t.Fatalf("nodes %s", got)
			}
			if fmt.Sprint(g.Inputs) != "[x]" || len(g.Outputs) != 1 || scalar(t, g, "a") != 0.5 || scalar(t, g, "b") != 2 {
				t.Fatalf("graph %v %v %v", g.Inputs, g.Outputs, g.Consts)
			}
		})
	}
}

func TestVariablesTF1Unrestored(t *testing.T) {
	m := mustLoad(t, "cc/saved_model/testdata/half_plus_two/00000123")
	// filename_tensor is set by the init op, not restored.
	if _, err := m.VariableValue("filename_tensor"); !errors.Is(err, ErrMissingVariables) {
		t.Fatalf("got %v", err)
	}
}

func TestVarsAndArithmeticTF2(t *testing.T) {
	m := mustLoad(t, "cc/saved_model/testdata/VarsAndArithmeticObjectGraph")
	keys := map[string]string{}
	for _, v := range m.Variables {
		keys[v.Node] = v.Key
	}
	want := map[string]string{"variable_x": "x/.ATTRIBUTES/VARIABLE_VALUE", "variable_y": "y/.ATTRIBUTES/VARIABLE_VALUE", "child_variable": "child/z/.ATTRIBUTES/VARIABLE_VALUE"}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("keys %v", keys)
	}
	g, err := m.FlattenSignature("serving_default")
	if err != nil {
		t.Fatal(err)
	}
	p := "StatefulPartitionedCall/StatefulPartitionedCall/"
	// compute(a, b) = (a + x) * (b + y) / z + c with x=1, y=2, z=3, c=5.
	if scalar(t, g, p+"add/ReadVariableOp") != 1 || scalar(t, g, p+"add_1/ReadVariableOp") != 2 || scalar(t, g, p+"truediv/ReadVariableOp") != 3 || scalar(t, g, "Const") != 5 {
		t.Fatalf("consts %v", g.Consts)
	}
	if fmt.Sprint(g.Inputs) != "[serving_default_a serving_default_b]" || g.Outputs[0] != "StatefulPartitionedCall/Identity:0" {
		t.Fatalf("io %v %v", g.Inputs, g.Outputs)
	}
	for _, n := range g.Nodes {
		switch n.Op {
		case "NoOp", "ReadVariableOp", "VarHandleOp", "StatefulPartitionedCall", "RestoreV2", "SaveV2":
			t.Errorf("node %s (%s) survived flattening", n.Name, n.Op)
		}
		for _, in := range n.Input {
			if strings.HasPrefix(in, "^") {
				t.Errorf("control input %s on %s", in, n.Name)
			}
		}
	}
	if got := nodeSet(g); !strings.Contains(got, p+"truediv=RealDiv("+p+"mul,"+p+"truediv/ReadVariableOp)") {
		t.Fatalf("nodes %s", got)
	}
}

func TestReadVariableOpAndVariableV2(t *testing.T) {
	for _, rel := range []string{"python/compiler/tensorrt/test/testdata/tf_readvariableop_saved_model", "python/compiler/tensorrt/test/testdata/tf_variablev2_saved_model"} {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			m := mustLoad(t, rel)
			g, err := m.FlattenSignature("")
			if err != nil {
				t.Fatal(err)
			}
			// output = input1*var1 + input2*var2 - 45 with var1=13, var2=37.
			var vals []float32
			for _, name := range sortedKeys(g.Consts) {
				vals = append(vals, g.Consts[name].F32[0])
			}
			sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
			if fmt.Sprint(vals) != "[13 37 45]" || len(g.Inputs) != 2 {
				t.Fatalf("consts %v inputs %v\n%s", vals, g.Inputs, nodeSet(g))
			}
			if len(g.Consts) != 3 || len(g.Nodes) > 12 {
				t.Fatalf("unexpected graph %s", nodeSet(g))
			}
		})
	}
}

func TestFrozenConv(t *testing.T) {
	m := mustLoad(t, "python/compiler/tensorrt/model_tests/sample_model")
	if len(m.Variables) != 0 || m.Bundle() != nil {
		t.Fatalf("frozen model has variables %v", m.Variables)
	}
	g, err := m.FlattenSignature("")
	if err != nil {
		t.Fatal(err)
	}
	k := g.Consts["conv2d/kernel"]
	if k == nil || k.DType != tensor.Float32 || fmt.Sprint(k.Shape) != "[5 5 3 16]" {
		t.Fatalf("kernel %v", k)
	}
	var conv = g.Nodes[3]
	if conv.Op != "Conv2D" || string(conv.Attr["padding"].GetS()) != "VALID" || string(conv.Attr["data_format"].GetS()) != "NHWC" {
		t.Fatalf("conv %v", conv)
	}
	if len(g.Nodes) != 16 || g.Outputs[0] != "Identity:0" {
		t.Fatalf("nodes %s", nodeSet(g))
	}
}

func TestMultiShardCheckpoint(t *testing.T) {
	m := mustLoad(t, "python/compiler/tensorrt/test/testdata/tftrt_2.0_saved_model")
	v, err := m.VariableValue("Variable")
	if err != nil || fmt.Sprint(v.Shape, v.F32) != "[1 1 1] [1]" {
		t.Fatalf("%v %v", v, err)
	}
	// The object graph string entry lives in the other shard.
	og, err := m.Bundle().Read(CheckpointGraphKey)
	if err != nil || og.DType != tensor.String || len(og.S[0]) == 0 {
		t.Fatalf("%v %v", og, err)
	}
}

func TestSnappyIndex(t *testing.T) {
	m := mustLoad(t, "cc/saved_model/testdata/OptimizerSlotVariableModule")
	v, err := m.VariableValue("Adam/iter")
	if err != nil || v.DType != tensor.Int64 {
		t.Fatalf("%v %v", v, err)
	}
}

func TestNoVariablesModel(t *testing.T) {
	m := mustLoad(t, "cc/saved_model/testdata/x_plus_y_v2_debuginfo")
	g, err := m.FlattenSignature("")
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeSet(g); got != "serving_default_x=Placeholder() serving_default_y=Placeholder() PartitionedCall/PartitionedCall/add=AddV2(serving_default_x,serving_default_y) PartitionedCall/PartitionedCall/Identity=Identity(PartitionedCall/PartitionedCall/add) PartitionedCall/Identity=Identity(PartitionedCall/PartitionedCall/Identity)" {
		t.Fatal(got)
	}
}

func TestUnknownTagsAndSignature(t *testing.T) {
	_, err := Load(testmodules.TFModel(t, "cc/saved_model/testdata/half_plus_two/00000123"), "train")
	if !errors.Is(err, ErrTagSet) || !strings.Contains(err.Error(), "[serve]") {
		t.Fatalf("got %v", err)
	}
	m := mustLoad(t, "cc/saved_model/testdata/half_plus_two/00000123")
	if _, err := m.FlattenSignature("nope"); !errors.Is(err, ErrUnknownSignature) || !strings.Contains(err.Error(), "regress_x_to_y") {
		t.Fatalf("got %v", err)
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNotSavedModel) {
		t.Fatalf("got %v", err)
	}
}

// copyDir copies a model into a temp dir so a test can damage it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "m")
	testmodules.CopyTree(t, src, dst)
	return dst
}

func TestCorruptCheckpoint(t *testing.T) {
	src := testmodules.TFModel(t, "python/compiler/tensorrt/test/testdata/tf_readvariableop_saved_model")
	shard := "variables/variables.data-00000-of-00001"

	dir := copyDir(t, src)
	b, _ := os.ReadFile(filepath.Join(dir, shard))
	b[0] ^= 0x40
	os.WriteFile(filepath.Join(dir, shard), b, 0o644)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.FlattenSignature("")
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), shard) || !strings.Contains(err.Error(), "var1/.ATTRIBUTES/VARIABLE_VALUE") {
		t.Fatalf("flipped byte: %v", err)
	}

	dir = copyDir(t, src)
	os.Truncate(filepath.Join(dir, shard), 2)
	m, _ = Load(dir)
	if _, err = m.FlattenSignature(""); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated shard: %v", err)
	}

	dir = copyDir(t, src)
	idx := filepath.Join(dir, "variables/variables.index")
	b, _ = os.ReadFile(idx)
	b[10] ^= 1
	os.WriteFile(idx, b, 0o644)
	if _, err = Load(dir); !errors.Is(err, ErrChecksum) {
		t.Fatalf("damaged index: %v", err)
	}
	os.Truncate(idx, 20)
	if _, err = Load(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated index: %v", err)
	}

	dir = copyDir(t, src)
	os.RemoveAll(filepath.Join(dir, "variables"))
	if _, err = Load(dir); !errors.Is(err, ErrMissingVariables) || !strings.Contains(err.Error(), "variables/") {
		t.Fatalf("missing variables/: %v", err)
	}
}

func TestTensorsAndTaps(t *testing.T) {
	m := mustLoad(t, "cc/saved_model/testdata/VarsAndArithmeticObjectGraph")
	ts, err := m.Tensors("")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range ts {
		if d.Name == "StatefulPartitionedCall/StatefulPartitionedCall/mul:0" && d.Op == "Mul" && d.DType == tensor.Float32 && d.Inner == "mul" {
			found = true
		}
	}
	if !found {
		t.Fatalf("mul missing from %v", ts)
	}
	for name, want := range map[string]string{
		"StatefulPartitionedCall:0": "StatefulPartitionedCall/Identity:0",
		"serving_default_a":         "serving_default_a:0",
		"mul":                       "StatefulPartitionedCall/StatefulPartitionedCall/mul:0",
		"truediv:0":                 "StatefulPartitionedCall/StatefulPartitionedCall/truediv:0",
	} {
		got, err := m.ResolveTensor("", name)
		if err != nil || got != want {
			t.Errorf("ResolveTensor(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	_, err = m.ResolveTensor("", "mull")
	if !errors.Is(err, ErrUnknownTensor) || !strings.Contains(err.Error(), "mul") {
		t.Fatalf("got %v", err)
	}
	// Identity is ambiguous between the wrapper and the inner function.
	if _, err = m.ResolveTensor("", "Identity"); !errors.Is(err, ErrUnknownTensor) || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("got %v", err)
	}
	// A tap flattens to a graph that ends there.
	g, err := m.Flatten([]string{"StatefulPartitionedCall/StatefulPartitionedCall/mul:0"})
	if err != nil || len(g.Nodes) != 7 {
		t.Fatalf("%v %s", err, nodeSet(g))
	}
}

// TestFuzzGenerated loads and flattens TensorFlow's fuzzer-made models and
// every other testdata model: errors are fine, panics are not.
func TestFuzzGenerated(t *testing.T) {
	root := testmodules.TFModel(t, "cc/saved_model/testdata")
	var dirs []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && (info.Name() == "saved_model.pb" || info.Name() == "saved_model.pbtxt") {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	if len(dirs) < 15 {
		t.Fatalf("found only %d models", len(dirs))
	}
	for _, d := range dirs {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic: %v", d, r)
				}
			}()
			m, err := Load(d)
			if err != nil {
				t.Logf("%s: %v", filepath.Base(d), err)
				return
			}
			for _, k := range m.SignatureKeys() {
				if _, err := m.FlattenSignature(k); err != nil {
					t.Logf("%s %s: %v", filepath.Base(d), k, err)
				}
				if _, err := m.Tensors(k); err != nil {
					t.Logf("%s %s tensors: %v", filepath.Base(d), k, err)
				}
			}
		}()
	}
}

// TestMutatedSavedModel flips random bytes of real saved_model.pb files:
// Load and Flatten may fail but must not panic.
func TestMutatedSavedModel(t *testing.T) {
	src := testmodules.TFModel(t, "cc/saved_model/testdata/VarsAndArithmeticObjectGraph")
	dir := copyDir(t, src)
	orig, err := os.ReadFile(filepath.Join(src, "saved_model.pb"))
	if err != nil {
		t.Fatal(err)
	}
	seed := uint32(1)
	rnd := func(n int) int { seed = seed*1664525 + 1013904223; return int(seed>>8) % n }
	for i := 0; i < 300; i++ {
		b := append([]byte(nil), orig...)
		for k := 0; k < 1+rnd(4); k++ {
			b[rnd(len(b))] = byte(rnd(256))
		}
		os.WriteFile(filepath.Join(dir, "saved_model.pb"), b, 0o644)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("mutation %d: panic: %v", i, r)
				}
			}()
			if m, err := Load(dir); err == nil {
				for _, k := range m.SignatureKeys() {
					m.FlattenSignature(k)
					m.ResolveTensor(k, "mul")
				}
			}
		}()
	}
}
