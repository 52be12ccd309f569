package dataset

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"strings"
	"testing"
)

func TestSynthetic(t *testing.T) {
	ds, err := Open("synthetic:2000:12x20", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 2000 || len(ds.Classes) != SyntheticClasses || ds.Kind != KindSynthetic {
		t.Fatalf("synthetic:2000: %d samples, classes %v, kind %s", ds.Len(), ds.Classes, ds.Kind)
	}
	again, _ := Open("synthetic:2000:12x20", Options{})
	for _, i := range []int{0, 7, 1500} {
		a, err := ds.Samples[i].Encoded()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := again.Samples[i].Encoded()
		if !bytes.Equal(a, b) {
			t.Errorf("sample %d: two opens gave different bytes", i)
		}
		img, err := png.Decode(bytes.NewReader(a))
		if err != nil || img.Bounds().Dx() != 20 || img.Bounds().Dy() != 12 {
			t.Errorf("sample %d: not a 12x20 PNG: %v %v", i, err, img.Bounds())
		}
		if ds.Samples[i].Label != i%10 {
			t.Errorf("sample %d: label %d", i, ds.Samples[i].Label)
		}
	}
	if errs := Hash(context.Background(), ds, 2); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	// Samples 999 and 1999 repeat 989 and 1989: two groups of two.
	d := ds.Duplicates()
	if d.Groups != 2 || d.Conflicting != 0 {
		t.Errorf("duplicates: %+v, want 2 groups", d)
	}
	if _, err := Open("synthetic:10", Options{Classes: []string{"a", "b"}}); !errors.Is(err, ErrLabel) {
		t.Errorf("imposed classes a, b: %v, want ErrLabel", err)
	}
	for _, spec := range []string{"synthetic:", "synthetic:0", "synthetic:-3", "synthetic:10:28", "synthetic:10:0x5", "synthetic:10:2x2:3"} {
		if _, err := Open(spec, Options{}); !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), "synthetic:N:HxW") {
			t.Errorf("Open(%q) = %v, want ErrSource with the syntax", spec, err)
		}
	}
}

// BenchmarkSyntheticEncode is the generator's cost per image (it bounds
// how fast a simulation hashes and decodes).
func BenchmarkSyntheticEncode(b *testing.B) {
	s := &synthetic{h: 28, w: 28}
	for i := 0; i < b.N; i++ {
		if _, err := s.encode(i); err != nil {
			b.Fatal(err)
		}
	}
}
