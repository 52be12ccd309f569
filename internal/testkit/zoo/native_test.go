package zoo_test

import (
	"testing"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/internal/testkit/zoo"
)

func TestNativeMatchesTensorFlow(t *testing.T) {
	zoo.Parity(t, zoo.Root(t), "native", func(dir string, o native.Options) (backbone.Backbone, error) {
		return native.Open(dir, o)
	})
}

// TestInspectSupportsEveryOp is graft inspect's view of the zoo: no model
// uses an op the native engine lacks.
func TestInspectSupportsEveryOp(t *testing.T) {
	cases, err := zoo.Cases(zoo.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		r, err := inspect.Inspect(c.SavedModel, nil, false, "")
		if err != nil {
			t.Errorf("%s: %v", c.Name(), err)
			continue
		}
		if len(r.Unsupported) > 0 {
			t.Errorf("%s: graft inspect reports unsupported ops %v", c.Name(), r.Unsupported)
		}
		for _, s := range r.Signatures {
			if s.Error != "" {
				t.Errorf("%s: signature %s: %s", c.Name(), s.Key, s.Error)
			}
		}
	}
}

func TestRelErr(t *testing.T) {
	// A hand-computed case: the oracle's largest magnitude is 4, the
	// largest difference 0.5.
	want := mustF32(t, []float32{1, -4, 2, 0}, 2, 2)
	got := mustF32(t, []float32{1, -3.5, 2.25, 0}, 2, 2)
	if e, err := zoo.RelErr(got, want); err != nil || e != 0.125 {
		t.Errorf("RelErr = %v, %v; want 0.125", e, err)
	}
	if _, err := zoo.RelErr(mustF32(t, []float32{1, 2, 3, 4}, 4), want); err == nil {
		t.Error("RelErr accepted a different shape")
	}
}

func TestTop1(t *testing.T) {
	// Row 0: class 2 leads by 0.5; row 1: classes 0 and 1 are 1e-5 apart,
	// inside 2 * 1e-4 * max|want| (= 2e-4), so no verdict.
	want := mustF32(t, []float32{0.1, 0.4, 0.9, 1, 0.99999, 0.5}, 2, 3)
	got := zoo.Top1(want, 1e-4)
	if len(got) != 2 || got[0] != 2 || got[1] != -1 {
		t.Errorf("Top1 = %v, want [2 -1]", got)
	}
}
