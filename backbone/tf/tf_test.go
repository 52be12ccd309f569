package tf

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	gpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	cpb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// These tests need no libtensorflow: they run in every build. The engine
// itself is tested in tensorflow_test.go (-tags tensorflow).

const fashionCNN = "../../testdata/models/fashion_cnn"

func TestStubSaysHowToBuild(t *testing.T) {
	if Available {
		t.Skip("built with -tags tensorflow")
	}
	b, err := Open(fashionCNN, Options{})
	if !errors.Is(err, ErrNoTensorFlow) || b != nil {
		t.Fatalf("Open = %v, %v; want ErrNoTensorFlow", b, err)
	}
	for _, want := range []string{"make tf-deps build-tf", "--engine native"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := (&Backbone{}).Features(context.Background(), tensor.New(tensor.Float32, 1, 28, 28, 1)); !errors.Is(err, ErrNoTensorFlow) {
		t.Errorf("Features = %v, want ErrNoTensorFlow", err)
	}
	if _, err := RunSignature(fashionCNN, Options{}, nil); !errors.Is(err, ErrNoTensorFlow) {
		t.Errorf("RunSignature = %v, want ErrNoTensorFlow", err)
	}
	if _, err := Version(); !errors.Is(err, ErrNoTensorFlow) {
		t.Errorf("Version = %v, want ErrNoTensorFlow", err)
	}
}

// TestSameAPIWithAndWithoutTag compares the exported declarations of the
// tagged engine and the untagged stub, so that code using the package
// builds either way.
func TestSameAPIWithAndWithoutTag(t *testing.T) {
	tagged, stub := exportedAPI(t, "tensorflow.go", "load.go", "eager.go"), exportedAPI(t, "notensorflow.go")
	if !reflect.DeepEqual(tagged, stub) {
		t.Errorf("exported API differs:\n  -tags tensorflow: %q\n  stub:             %q", tagged, stub)
	}
	if len(tagged) < 9 {
		t.Errorf("only %d exported declarations found: %q", len(tagged), tagged)
	}
}

func exportedAPI(t *testing.T, files ...string) []string {
	fset := token.NewFileSet()
	var decls []ast.Decl
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		decls = append(decls, f.Decls...)
	}
	expr := func(e ast.Expr) string {
		var b bytes.Buffer
		printer.Fprint(&b, fset, e)
		return b.String()
	}
	types := func(fl *ast.FieldList) string {
		var ts []string
		for _, fd := range fl.List {
			for range max(len(fd.Names), 1) {
				ts = append(ts, expr(fd.Type))
			}
		}
		return strings.Join(ts, ", ")
	}
	var api []string
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			sig := "func "
			if d.Recv != nil {
				sig += "(" + types(d.Recv) + ") "
			}
			sig += d.Name.Name + "(" + types(d.Type.Params) + ")"
			if d.Type.Results != nil {
				sig += " (" + types(d.Type.Results) + ")"
			}
			api = append(api, sig)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					decl := "type " + s.Name.Name
					if st, ok := s.Type.(*ast.StructType); ok {
						for _, fd := range st.Fields.List {
							for _, n := range fd.Names {
								if n.IsExported() {
									decl += " " + n.Name + " " + expr(fd.Type)
								}
							}
						}
					}
					api = append(api, decl)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							api = append(api, d.Tok.String()+" "+n.Name)
						}
					}
				}
			}
		}
	}
	sort.Strings(api)
	return api
}

func TestSessionConfig(t *testing.T) {
	decode := func(s session) *cpb.ConfigProto {
		t.Helper()
		c := &cpb.ConfigProto{}
		if err := proto.Unmarshal(s.config, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		device, want, visible string
		gpus                  int32 // device_count["GPU"], -1: not set
	}{
		{"", "", "", -1},
		{"auto", "", "", -1},
		{"cpu", "/device:CPU:0", "", 0},
		{"cuda", "/device:GPU:0", "", -1},
		{"cuda:3", "/device:GPU:0", "3", -1},
	} {
		s, err := sessionConfig(Options{Device: tc.device, GPUMemoryFraction: 0.25, Threads: 4})
		if err != nil {
			t.Fatalf("%q: %v", tc.device, err)
		}
		c := decode(s)
		g := c.GetGpuOptions()
		if !g.GetAllowGrowth() || g.GetPerProcessGpuMemoryFraction() != 0.25 || !c.GetAllowSoftPlacement() || c.GetIntraOpParallelismThreads() != 4 || c.GetInterOpParallelismThreads() != 4 {
			t.Errorf("%q: config %v: want allow_growth, fraction 0.25, soft placement, 4 intra- and inter-op threads", tc.device, c)
		}
		if s.device != tc.want || g.GetVisibleDeviceList() != tc.visible {
			t.Errorf("%q: device %q, visible %q; want %q, %q", tc.device, s.device, g.GetVisibleDeviceList(), tc.want, tc.visible)
		}
		n, set := c.GetDeviceCount()["GPU"]
		if (tc.gpus < 0 && set) || (tc.gpus >= 0 && (!set || n != tc.gpus)) {
			t.Errorf("%q: device_count %v", tc.device, c.GetDeviceCount())
		}
	}
	// Without a fraction TensorFlow still grows, with no cap.
	s, err := sessionConfig(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g := decode(s).GetGpuOptions(); !g.GetAllowGrowth() || g.GetPerProcessGpuMemoryFraction() != 0 {
		t.Errorf("default gpu options %v", g)
	}
	for _, o := range []Options{{Device: "gpu"}, {Device: "cuda:x"}, {Device: "cuda:-1"}, {GPUMemoryFraction: 1.5}, {GPUMemoryFraction: -0.1}, {GPUMemoryFraction: math.NaN()}, {Threads: -1}} {
		if _, err := sessionConfig(o); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: %v, want ErrOptions", o, err)
		}
	}
}

// TestGraphDefRunsLikeTheFlatGraph serialises fashion_cnn's flat graph,
// reads the GraphDef back into a graph of its own (values from the Const
// nodes' value attrs only) and runs both on the native engine.
func TestGraphDefRunsLikeTheFlatGraph(t *testing.T) {
	p, err := native.Prepare(fashionCNN, native.Options{Tap: "conv2d_2"})
	if err != nil {
		t.Fatal(err)
	}
	g := p.Graph
	// A Const without its value attr takes it from Graph.Consts.
	var stripped string
	for i, n := range g.Nodes {
		if n.Op == "Const" && len(g.Consts[n.Name].Shape) == 4 {
			c := proto.Clone(n).(*ndpb.NodeDef)
			delete(c.Attr, "value")
			delete(c.Attr, "dtype")
			c.Attr["_class"] = &avpb.AttrValue{Value: &avpb.AttrValue_S{S: []byte("loc:@pruned")}} // dropped
			c.Device = "/device:GPU:7"
			g.Nodes[i], stripped = c, n.Name
			break
		}
	}
	if stripped == "" {
		t.Fatal("fashion_cnn has no 4-D Const")
	}
	b, err := graphDef(g, p.Model.MetaGraph().GetGraphDef().GetVersions())
	if err != nil {
		t.Fatal(err)
	}
	def := &gpb.GraphDef{}
	if err := proto.Unmarshal(b, def); err != nil {
		t.Fatal(err)
	}
	if def.GetVersions().GetProducer() == 0 {
		t.Errorf("GraphDef without the model's producer version: %v", def.GetVersions())
	}
	if len(def.Node) != len(g.Nodes) {
		t.Fatalf("GraphDef has %d nodes, flat graph %d", len(def.Node), len(g.Nodes))
	}
	back := &savedmodel.Graph{Nodes: def.Node, Consts: map[string]*tensor.Tensor{}, Inputs: g.Inputs, Outputs: g.Outputs}
	for _, n := range def.Node {
		if n.Device != "" {
			t.Errorf("node %s keeps device %q", n.Name, n.Device)
		}
		for k := range n.Attr {
			if strings.HasPrefix(k, "_") {
				t.Errorf("node %s keeps internal attr %s", n.Name, k)
			}
		}
		if n.Op != "Const" {
			continue
		}
		v, err := savedmodel.TensorFromProto(n.Attr["value"].GetTensor())
		if err != nil {
			t.Fatalf("Const %s: %v", n.Name, err)
		}
		if n.Attr["dtype"].GetType() != n.Attr["value"].GetTensor().GetDtype() {
			t.Errorf("Const %s: dtype attr %v, value %v", n.Name, n.Attr["dtype"], n.Attr["value"].GetTensor().GetDtype())
		}
		back.Consts[n.Name] = v
	}
	x := tensor.New(tensor.Float32, 3, 28, 28, 1)
	for i := range x.F32 {
		x.F32[i] = float32(i%97) / 97
	}
	run := func(g *savedmodel.Graph) *tensor.Tensor {
		e, err := native.New(g)
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.Run(context.Background(), map[string]*tensor.Tensor{g.Inputs[0]: x})
		if err != nil {
			t.Fatal(err)
		}
		return out[g.Outputs[0]]
	}
	want, got := run(p.Graph), run(back)
	if !reflect.DeepEqual(want.Shape, got.Shape) || !reflect.DeepEqual(want.F32, got.F32) {
		t.Errorf("the GraphDef computes %v, the flat graph %v (or different values)", got.Shape, want.Shape)
	}
}

func TestFeedAndFetchBytes(t *testing.T) {
	in := backbone.TensorSpec{Name: "x", DType: tensor.Float32, Shape: []int{-1, 2, 2, 1}}
	x, _ := tensor.FromFloat32([]float32{1, -2, 3.5, 4, 5, 6, 7, 8}, 2, 2, 2, 1)
	raw, shape, err := feedBytes(x, in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int64{2, 2, 2, 1}) || len(raw) != 32 {
		t.Fatalf("shape %v, %d bytes", shape, len(raw))
	}
	y, err := fetchTensor(tensor.Float32, shape, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(y.F32, x.F32) || !reflect.DeepEqual(y.Shape, x.Shape) {
		t.Errorf("round trip %v %v, want %v %v", y.Shape, y.F32, x.Shape, x.F32)
	}
	// Float32 values feed a float16 input as halves.
	half, _, err := feedBytes(x, backbone.TensorSpec{DType: tensor.Float16, Shape: in.Shape})
	if err != nil || len(half) != 16 {
		t.Errorf("float16 feed: %d bytes, %v", len(half), err)
	}
	for _, bad := range []struct {
		x  *tensor.Tensor
		in backbone.TensorSpec
	}{
		{nil, in},
		{x, backbone.TensorSpec{DType: tensor.Uint8, Shape: in.Shape}},
		{x, backbone.TensorSpec{DType: tensor.Float32, Shape: []int{-1, 3, 2, 1}}},
		{x, backbone.TensorSpec{DType: tensor.Float32, Shape: []int{-1, 8}}},
		{&tensor.Tensor{DType: tensor.Float32, Shape: []int{2, 2, 2, 1}, F32: make([]float32, 7)}, in},
	} {
		if _, _, err := feedBytes(bad.x, bad.in); err == nil {
			t.Errorf("feedBytes(%v, %+v): no error", bad.x, bad.in)
		}
	}
	if _, err := fetchTensor(tensor.Float32, []int64{2, 2}, raw); err == nil {
		t.Error("fetchTensor with too many bytes: no error")
	}
}

func TestSplitTensorName(t *testing.T) {
	for name, want := range map[string]struct {
		node string
		i    int
	}{"a/b:2": {"a/b", 2}, "a": {"a", 0}, "x:0": {"x", 0}} {
		n, i, err := splitTensorName(name)
		if err != nil || n != want.node || i != want.i {
			t.Errorf("%q: %q %d %v", name, n, i, err)
		}
	}
	for _, bad := range []string{"a:b", ":1", "a:-1"} {
		if _, _, err := splitTensorName(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
