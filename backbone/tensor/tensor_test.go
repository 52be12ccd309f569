package tensor

import (
	"errors"
	"slices"
	"testing"
)

func TestStridesAndSizes(t *testing.T) {
	for _, c := range []struct {
		shape   []int
		strides []int
		n       int
	}{
		{nil, []int{}, 1}, // a scalar
		{[]int{5}, []int{1}, 5},
		{[]int{2, 3, 4}, []int{12, 4, 1}, 24},
		{[]int{2, 0, 3}, []int{0, 3, 1}, 0},
	} {
		if got := Strides(c.shape); !slices.Equal(got, c.strides) {
			t.Errorf("Strides(%v) = %v, want %v", c.shape, got, c.strides)
		}
		if got := NumElements(c.shape); got != c.n {
			t.Errorf("NumElements(%v) = %d, want %d", c.shape, got, c.n)
		}
	}
	for dt, want := range map[DType]int{Float32: 4, Int32: 4, Float64: 8, Int64: 8, Float16: 2, Int16: 2, Int8: 1, Uint8: 1, Bool: 1, String: 0} {
		if dt.Size() != want {
			t.Errorf("%s.Size() = %d, want %d", dt, dt.Size(), want)
		}
	}
	if s := DType(99).String(); s != "dtype(99)" {
		t.Errorf("an unknown dtype prints %q", s)
	}
}

// TestNewSetsOneSlice: New backs each dtype with its one slice, zeroed,
// and copies the shape it is given.
func TestNewSetsOneSlice(t *testing.T) {
	shape := []int{2, 3}
	for _, dt := range []DType{Float32, Float16, Float64, Int32, Int16, Int8, Uint8, Int64, Bool, String} {
		x := New(dt, shape...)
		set := 0
		for _, n := range []int{len(x.F32), len(x.F64), len(x.I32), len(x.I64), len(x.B), len(x.S)} {
			if n == 6 {
				set++
			} else if n != 0 {
				t.Errorf("%s: a slice of %d", dt, n)
			}
		}
		if set != 1 {
			t.Errorf("%s: %d slices of 6 set, want 1", dt, set)
		}
	}
	x := New(Float32, shape...)
	shape[0] = 9
	if x.Shape[0] != 2 || x.Len() != 6 || x.Rank() != 2 || x.String() != "float32[2 3]" {
		t.Errorf("New kept the caller's shape slice or miscounts: %v %d %d %s", x.Shape, x.Len(), x.Rank(), x)
	}
}

func TestFromFloat32AndReshaped(t *testing.T) {
	data := []float32{1, 2, 3, 4, 5, 6}
	if _, err := FromFloat32(data, 4, 2); !errors.Is(err, ErrShape) {
		t.Errorf("6 values as 4x2: %v, want ErrShape", err)
	}
	x, err := FromFloat32(data, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	y, err := x.Reshaped(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	y.F32[0] = 10 // shared, not copied
	if x.F32[0] != 10 || !slices.Equal(x.Shape, []int{2, 3}) || !slices.Equal(y.Shape, []int{3, 2}) {
		t.Errorf("x %v %v, y %v %v", x.Shape, x.F32, y.Shape, y.F32)
	}
	if _, err := x.Reshaped(4); !errors.Is(err, ErrShape) {
		t.Errorf("6 elements reshaped to 4: %v, want ErrShape", err)
	}
}
