package dataset

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

// chessLike writes an image folder of 2 classes x 30 images in which 15
// contents appear more than once (34 files in those groups), as in the
// issue's chess photos, and opens it.
func chessLike(t *testing.T) *Dataset {
	t.Helper()
	dir := t.TempDir()
	// copies[i] is how many files hold content i of a class; 11 groups
	// of 2 and 4 of 3 = 15 groups, 34 files.
	for c, class := range []string{"bishop", "knight"} {
		n := 0
		for i := 0; n < 30; i++ {
			copies := 1
			switch {
			case i < 6 && c == 0, i < 5 && c == 1:
				copies = 2
			case i < 8 && c == 0, i < 7 && c == 1:
				copies = 3
			}
			data := pngBytes(t, 4, 4, gray(uint8(c*100+i)))
			for k := 0; k < copies && n < 30; k++ {
				writeFile(t, filepath.Join(dir, class, fmt.Sprintf("%02d.png", n)), data)
				n++
			}
		}
	}
	ds, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if errs := Hash(context.Background(), ds, 2); errs[0] != nil {
		t.Fatal(errs[0])
	}
	return ds
}

func TestDuplicatesAreCounted(t *testing.T) {
	ds := chessLike(t)
	d := ds.Duplicates()
	if d.Groups != 15 || d.Files != 34 || d.Conflicting != 0 {
		t.Errorf("%s, want 15 groups (34 files)", d)
	}
	if len(d.Examples[0]) != 2 || filepath.Base(d.Examples[0][0]) != "00.png" || filepath.Base(d.Examples[0][1]) != "01.png" {
		t.Errorf("first group %v", d.Examples[0])
	}
	// Relabel one copy: the group now conflicts.
	ds.Samples[1].Label = 1
	if d := ds.Duplicates(); d.Conflicting != 1 {
		t.Errorf("conflicts %d, want 1", d.Conflicting)
	}
}

// A duplicated image never lands on both sides of a split, for any seed;
// the per-sample split of before does leak on this data (the test's
// guard), and the class proportions stay close to the fraction.
func TestSplitKeepsIdenticalImagesTogether(t *testing.T) {
	ds := chessLike(t)
	leaked := 0
	for seed := uint64(0); seed < 50; seed++ {
		train, val := Split(ds, 0.2, seed)
		if n, _ := val.Overlap(train); n != 0 {
			t.Fatalf("seed %d: %d validation samples are copies of training samples", seed, n)
		}
		if train.Len()+val.Len() != ds.Len() {
			t.Fatalf("seed %d: %d+%d samples of %d", seed, train.Len(), val.Len(), ds.Len())
		}
		for c, n := range val.Counts() {
			if n < 6 || n > 8 { // round(0.2*30) = 6, overshoot by a group at most
				t.Errorf("seed %d: class %d has %d validation samples", seed, c, n)
			}
		}
		_, oldVal := SplitSamples(ds, 0.2, seed)
		oldTrain, _ := SplitSamples(ds, 0.2, seed)
		if n, _ := oldVal.Overlap(oldTrain); n > 0 {
			leaked++
		}
	}
	if leaked == 0 {
		t.Error("the per-sample split never leaked: the fixture does not test anything")
	}
}

// Without duplicates the split is the one graft made before (runs keep
// their split when resumed).
func TestSplitWithoutDuplicatesIsPerSample(t *testing.T) {
	ds := splitFixture(10, 5, 1, 2, 40)
	for i := range ds.Samples {
		ds.Samples[i].Digest[0], ds.Samples[i].Digest[1] = byte(i), 1 // all distinct
	}
	// The validation IDs the per-sample split of graft 49e1abb gave.
	for seed, want := range map[uint64][]string{
		42: {"3", "9", "10", "12", "17", "19", "29", "31", "36", "49", "54", "57"},
		7:  {"0", "3", "4", "6", "24", "28", "35", "36", "40", "44", "45", "51"},
	} {
		for _, f := range []func(*Dataset, float64, uint64) (*Dataset, *Dataset){Split, SplitSamples} {
			if _, val := f(ds, 0.2, seed); !reflect.DeepEqual(ids(val), want) {
				t.Errorf("seed %d: %v, want %v", seed, ids(val), want)
			}
		}
	}
}
