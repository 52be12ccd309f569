package zoo

import (
	"context"
	"testing"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
)

// Opener opens a zoo SavedModel cut at a tap ("" in o.Tap: the signature
// output) on one engine.
type Opener func(dir string, o native.Options) (backbone.Backbone, error)

// Parity runs every case of the zoo at root through open and checks every
// stored output against TensorFlow's: the relative bound of Tolerance, and
// the same top-1 class at the signature output wherever TensorFlow's margin
// between its two best classes is wider than the bound. One subtest per
// case; each output's error is logged (go test -v) for the zoo's note.
func Parity(t *testing.T, root, engine string, open Opener) {
	cases, err := Cases(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			tol, why := Tolerance(c.Model, engine)
			if why != "" {
				t.Logf("bound %g: %s", tol, why)
			}
			worst, checked := 0.0, 0
			for _, o := range c.Outputs {
				b, err := open(c.SavedModel, native.Options{Tap: o.Tap})
				if err != nil {
					t.Errorf("tap %q: %v", o.Tap, err)
					continue
				}
				got, err := b.Features(context.Background(), c.Input)
				b.Close()
				if err != nil {
					t.Errorf("tap %q: %v", o.Tap, err)
					continue
				}
				e, err := RelErr(got, o.Want)
				if err != nil {
					t.Errorf("tap %q: %v", o.Tap, err)
					continue
				}
				worst, checked = max(worst, e), checked+1
				if e > tol {
					t.Errorf("tap %q: max |%s - TF| = %.3g x max |TF|, bound %g", o.Tap, engine, e, tol)
				}
				if o.Tap == "" {
					checkTop1(t, engine, got, o.Want, tol)
				}
			}
			if checked == len(c.Outputs) {
				t.Logf("ZOO %s %s max_rel_err %.3g (TensorFlow optimised vs unoptimised: %.3g)", c.Name(), engine, worst, c.TFOptimizedErr)
			}
		})
	}
}

// checkTop1 compares the classes, row by row, where TensorFlow's top two
// are far enough apart that an error within the bound cannot swap them.
func checkTop1(t *testing.T, engine string, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	for r, w := range Top1(want, tol) {
		k := want.Shape[1]
		switch g := ArgMax(got.F32[r*k : (r+1)*k]); {
		case w < 0:
			t.Logf("row %d: TensorFlow's top two are within the bound: top-1 not compared", r)
		case g != w:
			t.Errorf("row %d: %s's top-1 is class %d, TensorFlow's %d", r, engine, g, w)
		}
	}
}
