package dataset

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func splitFixture(counts ...int) *Dataset {
	ds := &Dataset{Source: "mem"}
	id := 0
	// Interleave classes so that order preservation is visible.
	for round := 0; ; round++ {
		added := false
		for c, n := range counts {
			if round < n {
				ds.Samples = append(ds.Samples, Sample{ID: fmt.Sprint(id), Label: c, Record: -1})
				id++
				added = true
			}
		}
		if !added {
			break
		}
	}
	for c := range counts {
		ds.Classes = append(ds.Classes, fmt.Sprint("c", c))
	}
	return ds
}

func ids(ds *Dataset) []string {
	var out []string
	for _, s := range ds.Samples {
		out = append(out, s.ID)
	}
	return out
}

func TestSplitStratified(t *testing.T) {
	ds := splitFixture(10, 5, 1, 2, 40)
	train, val := Split(ds, 0.2, 42)
	// round(0.2*n): 10->2, 5->1, 1->0 (train keeps it), 2->1 (at least 1), 40->8.
	if got, want := val.Counts(), []int{2, 1, 0, 1, 8}; !reflect.DeepEqual(got, want) {
		t.Errorf("val counts %v, want %v", got, want)
	}
	if got, want := train.Counts(), []int{8, 4, 1, 1, 32}; !reflect.DeepEqual(got, want) {
		t.Errorf("train counts %v, want %v", got, want)
	}
	// Disjoint, complete, original order kept, classes shared.
	seen := map[string]bool{}
	for _, part := range []*Dataset{train, val} {
		prev := -1
		for _, s := range part.Samples {
			var n int
			fmt.Sscan(s.ID, &n)
			if n <= prev {
				t.Fatalf("order not kept: %v", ids(part))
			}
			prev = n
			if seen[s.ID] {
				t.Fatalf("%s in both", s.ID)
			}
			seen[s.ID] = true
		}
		if !reflect.DeepEqual(part.Classes, ds.Classes) {
			t.Errorf("classes %v", part.Classes)
		}
	}
	if len(seen) != ds.Len() {
		t.Errorf("%d of %d samples", len(seen), ds.Len())
	}

	// Deterministic for a seed, different for another.
	train2, val2 := Split(ds, 0.2, 42)
	if !reflect.DeepEqual(ids(val), ids(val2)) || !reflect.DeepEqual(ids(train), ids(train2)) {
		t.Error("same seed, different split")
	}
	_, val3 := Split(ds, 0.2, 43)
	if reflect.DeepEqual(ids(val), ids(val3)) {
		t.Error("seeds 42 and 43 give the same split")
	}
}

func TestSplitEdges(t *testing.T) {
	ds := splitFixture(4, 3)
	train, val := Split(ds, 0, 1)
	if val.Len() != 0 || train.Len() != 7 {
		t.Errorf("fraction 0: %d/%d", train.Len(), val.Len())
	}
	train, val = Split(ds, 0.99, 1)
	if !reflect.DeepEqual(train.Counts(), []int{1, 1}) || val.Len() != 5 {
		t.Errorf("fraction 0.99: train %v", train.Counts())
	}
	for _, f := range []float64{math.NaN(), -1, 7} {
		train, val = Split(ds, f, 1) // clamped, no panic
		if train.Len()+val.Len() != 7 {
			t.Errorf("fraction %v lost samples", f)
		}
	}
	for _, f := range []float64{math.NaN(), -0.1, 1, 2} {
		if err := CheckFraction(f); !errors.Is(err, ErrArgument) {
			t.Errorf("CheckFraction(%v) = %v", f, err)
		}
	}
	if err := CheckFraction(0.25); err != nil {
		t.Error(err)
	}
}

// Issue 22, defect 6: a folder of images beside thousands of empty files
// (failed downloads, all byte-identical) must still train on its images.
// As one group of "duplicates" the empty files went to training whole
// and every image of every class to validation; an empty file is a bad
// file, known when it is hashed, and each is split on its own.
func TestSplitEmptyFilesAreBadNotOneGroup(t *testing.T) {
	dir := t.TempDir()
	const classes, images, empties = 4, 5, 400
	for c := range classes {
		for i := range images {
			writeFile(t, filepath.Join(dir, fmt.Sprint(c), fmt.Sprintf("img%d.png", i)), pngBytes(t, 4, 4, gray(uint8(16*c+i))))
		}
	}
	for i := range empties {
		writeFile(t, filepath.Join(dir, fmt.Sprint(i%classes), fmt.Sprintf("empty%03d.png", i)), nil)
	}
	ds, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	errs := Hash(context.Background(), ds, 2)
	nbad := 0
	for i, err := range errs {
		if strings.HasPrefix(filepath.Base(ds.Samples[i].ID), "empty") {
			if err == nil || !strings.Contains(err.Error(), "empty") {
				t.Fatalf("%s: %v, want an error that says the file is empty", ds.Samples[i].ID, err)
			}
			nbad++
		} else if err != nil {
			t.Fatalf("%s: %v", ds.Samples[i].ID, err)
		}
	}
	if nbad != empties {
		t.Fatalf("%d empty files reported, want %d", nbad, empties)
	}
	if d := ds.Duplicates(); d.Groups != 0 {
		t.Errorf("empty files counted as %d duplicate groups, want none", d.Groups)
	}
	train, _ := Split(ds, 0.2, 1)
	perClass := make([]int, classes)
	for _, s := range train.Samples {
		if strings.HasPrefix(filepath.Base(s.ID), "img") {
			perClass[s.Label]++
		}
	}
	for c, n := range perClass {
		if n == 0 {
			t.Errorf("class %d keeps none of its %d images for training", c, images)
		}
	}
}
