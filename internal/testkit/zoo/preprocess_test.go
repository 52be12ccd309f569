package zoo_test

import (
	"context"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/testkit/zoo"
)

// TestAutoPreprocessRecoversZooModes: the zoo calibrates every model's
// batch-norm statistics on photos preprocessed the architecture's
// documented way (the manifest's mode, scripts/zoo/gen.py); --preprocess
// auto, given other photos (the probes), must name that mode through all
// four writers. Models with preprocessing layers take the graph's input
// arithmetic path (raw); VGG16 has no batch norm, so auto keeps its
// warning instead of guessing.
func TestAutoPreprocessRecoversZooModes(t *testing.T) {
	cases, err := zoo.Cases(zoo.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			if len(c.Probes) == 0 {
				t.Fatalf("%s/manifest.json lists no probe_images: the zoo predates them; run `make zoo` again", c.Dir)
			}
			m, err := savedmodel.Load(c.SavedModel)
			if err != nil {
				t.Fatal(err)
			}
			g, err := m.FlattenSignature("")
			if err != nil {
				t.Fatal(err)
			}
			h, w := c.Input.Shape[1], c.Input.Shape[2]
			var px []float32
			for _, p := range c.Probes {
				x, err := images.Load(p, h, w, 3, images.Raw, 0)
				if err != nil {
					t.Fatal(err)
				}
				px = append(px, x...)
			}
			pixels, err := tensor.FromFloat32(px, len(c.Probes), h, w, 3)
			if err != nil {
				t.Fatal(err)
			}
			ch, n, st, err := train.ChooseFor(context.Background(), g, inspect.Auto, pixels)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.Model == "VGG16":
				if st == nil || st.Layer != "" || !ch.Warn || ch.Mode != images.Unit || !strings.Contains(ch.Reason, "no batch norm") {
					t.Errorf("auto on a graph without batch norm: %s (warn %v, stats %+v); want unit with a warning", ch.Mode, ch.Warn, st)
				}
			case c.Preprocess == images.Raw:
				if !n.Found() || ch.Mode != images.Raw || ch.Warn {
					t.Errorf("auto = %s (%s); want raw from the graph's own input arithmetic", ch.Mode, ch.Reason)
				}
			default:
				if st == nil {
					t.Fatalf("auto read no batch-norm statistics: %s", ch.Reason)
				}
				if ch.Mode != c.Preprocess || ch.Warn {
					t.Errorf("auto = %s (warn %v), want %s: %s", ch.Mode, ch.Warn, c.Preprocess, ch.Reason)
				}
			}
			if st != nil && st.Layer != "" {
				modes := inspect.Ranked(st)
				t.Logf("%s: %s; %s: %s/%s = %.3g", c.Name(), st.Layer, inspect.StatsText(st), modes[1], modes[0], st.Distances[modes[1]]/st.Distances[modes[0]])
			}
		})
	}
}
