package augment

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, canon, err string }{
		{in: "default", canon: "flip,rotation=0.1,zoom=0.1,translation=0.1:0.1"},
		{in: " contrast=0.2 , flip ", canon: "flip,contrast=0.2"},
		{in: "zoom=0.1:0.3,translation=0.05:0.2,brightness=0.5", canon: "zoom=0.1:0.3,translation=0.05:0.2,brightness=0.5"},
		{in: "rotation=0.25", canon: "rotation=0.25"},
		{in: "", err: "empty"},
		{in: "rotate=0.1", err: "unknown transform"},
		{in: "rotation", err: "needs a factor"},
		{in: "rotation=1", err: "in [0, 1)"},
		{in: "zoom=-0.1", err: "in [0, 1)"},
		{in: "zoom=0.1:x", err: "in [0, 1)"},
		{in: "flip=1", err: "takes no value"},
		{in: "flip,flip", err: "given twice"},
		{in: "rotation=0,contrast=0", err: "changes nothing"},
		{in: "default,flip", err: "unknown transform"},
	} {
		sp, err := Parse(tc.in)
		if tc.err != "" {
			if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) = %v, want an ErrSpec saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || sp.String() != tc.canon {
			t.Errorf("Parse(%q) = %q, %v; want %q", tc.in, sp, err, tc.canon)
		}
		if again, err := Parse(sp.String()); err != nil || again != sp {
			t.Errorf("Parse(%q) gives %+v, %v; the canonical form must read back as %+v", sp, again, err, sp)
		}
	}
}

// apply maps a point through m, by hand.
func apply(m Matrix, x, y float64) (float64, float64) {
	return m[0]*x + m[1]*y + m[2], m[3]*x + m[4]*y + m[5]
}

// Then composes as the layers chain: the composed matrix reads the input
// where m reads at the point n reads.
func TestThenComposesPointMaps(t *testing.T) {
	m := RotationMatrix(0.13, 10, 14)
	n := ZoomMatrix(1.2, 0.9, 10, 14).Then(TranslationMatrix(2, -3))
	for _, p := range [][2]float64{{0, 0}, {3.5, 7}, {13, 9}} {
		nx, ny := apply(n, p[0], p[1])
		wx, wy := apply(m, nx, ny)
		gx, gy := apply(m.Then(n), p[0], p[1])
		if math.Abs(gx-wx) > 1e-9 || math.Abs(gy-wy) > 1e-9 {
			t.Errorf("point %v: composed (%g, %g), chained (%g, %g)", p, gx, gy, wx, wy)
		}
	}
	// Hand-computed: a quarter turn of a 3x3 image about its centre (1, 1)
	// reads output (0, 0) from input (2, 0).
	if x, y := apply(RotationMatrix(0.25, 3, 3), 0, 0); math.Abs(x-2) > 1e-9 || math.Abs(y-0) > 1e-9 {
		t.Errorf("quarter turn reads (0,0) from (%g, %g), want (2, 0)", x, y)
	}
}

// Views are a function of (seed, image, view): the same in every call,
// different across views, seeds and images, and view 0 is the image.
func TestViewsAreDeterministic(t *testing.T) {
	sp, _ := Parse("flip,rotation=0.2,zoom=0.1,translation=0.1,brightness=0.2,contrast=0.2")
	a, b := Augmenter{sp, 1}, Augmenter{sp, 2}
	d1, d2 := [32]byte{1}, [32]byte{2}
	if a.Draw(d1, 3) != a.Draw(d1, 3) {
		t.Fatal("the same view drew twice differently")
	}
	for _, other := range []Params{a.Draw(d1, 4), b.Draw(d1, 3), a.Draw(d2, 3)} {
		if other == a.Draw(d1, 3) {
			t.Errorf("two views drew the same parameters %+v", other)
		}
	}
	p := a.Draw(d1, 5)
	if math.Abs(p.Turns) > 0.2 || math.Abs(p.ZoomH-1) > 0.1 || p.ZoomH != p.ZoomW || math.Abs(p.Brightness) > 0.2*255 || math.Abs(p.Contrast-1) > 0.2 {
		t.Errorf("draw %+v outside the spec's ranges", p)
	}
	img := []float32{1, 2, 3, 4}
	a.Apply(img, 2, 2, 1, d1, 0)
	if img[0] != 1 || img[3] != 4 {
		t.Errorf("view 0 changed the image: %v", img)
	}
	if a.EntryKey(d1, 0) != d1 || a.EntryKey(d1, 1) == d1 || a.EntryKey(d1, 1) == b.EntryKey(d1, 1) || a.EntryKey(d1, 1) == a.EntryKey(d1, 2) {
		t.Error("entry keys: view 0 must be the digest, other views distinct per seed and view")
	}
	// Every view comes once in k epochs.
	seen := map[int]bool{}
	for e := range 5 {
		seen[ViewOf(d2, e, 5)] = true
	}
	if len(seen) != 5 {
		t.Errorf("views of 5 epochs of 5: %v", seen)
	}
}

// How often a drawn flip happens: half the views, within sampling error.
func TestFlipHalf(t *testing.T) {
	a := Augmenter{Spec{Flip: true}, 7}
	n := 0
	for v := 1; v <= 2000; v++ {
		if a.Draw([32]byte{9}, v).Flip {
			n++
		}
	}
	if n < 900 || n > 1100 {
		t.Errorf("%d of 2000 views flipped", n)
	}
}
