package tflite

import (
	"errors"
	"math"
	"strings"
	"testing"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// TestUnmappedOp: an op the native engine runs but TFLite has no mapping
// for is an error that names the op and its node.
func TestUnmappedOp(t *testing.T) {
	g := &savedmodel.Graph{
		Nodes: []*ndpb.NodeDef{
			{Name: "x", Op: "Placeholder", Attr: map[string]*avpb.AttrValue{"dtype": savedmodel.AttrType(tensor.Float32), "shape": savedmodel.AttrShape([]int64{-1, 4})}},
			{Name: "block/softplus", Op: "Softplus", Input: []string{"x"}, Attr: map[string]*avpb.AttrValue{"T": savedmodel.AttrType(tensor.Float32)}},
		},
		Consts: map[string]*tensor.Tensor{}, Inputs: []string{"x"}, Outputs: []string{"block/softplus:0"},
	}
	_, err := Convert(g, Options{Inputs: []Port{{"x", "x"}}, Outputs: []Port{{"block/softplus:0", "y"}}, InputShapes: map[string][]int{"x": {-1, 4}}})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Softplus") || !strings.Contains(err.Error(), `"block/softplus"`) {
		t.Fatalf("error %v, want ErrUnsupported naming Softplus and its node", err)
	}
}

// TestErfcFit: the erfc fit the converter writes as TFLite ops, evaluated
// here in float64 with its float32 coefficients, is within 1e-7 absolute
// error of math.Erfc, and 1e-6 relative where erfc > 1e-4 (the fit's
// published 1.2e-7, plus the coefficients' rounding).
func TestErfcFit(t *testing.T) {
	for z := -6.0; z <= 6; z += 0.01 {
		a := math.Abs(z)
		tt := 1 / (1 + a/2)
		p := float64(erfcCoeffs[len(erfcCoeffs)-1])
		for i := len(erfcCoeffs) - 2; i >= 0; i-- {
			p = p*tt + float64(erfcCoeffs[i])
		}
		pos := tt * math.Exp(p-z*z)
		got := 1 + sign(z)*(pos-1)
		want := math.Erfc(z)
		if d := math.Abs(got - want); d > 1e-7 || (want > 1e-4 && d > 1e-6*want) {
			t.Fatalf("erfc(%g): fit %g, math.Erfc %g (diff %g)", z, got, want, d)
		}
	}
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
