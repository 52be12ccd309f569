package testmodules

import (
	"encoding/binary"
	"math"
	"os"
	"testing"
)

// WriteF32 writes x as raw little-endian float32 (numpy.fromfile's
// "<f4"), the way tests hand tensors to a Python oracle.
func WriteF32(t testing.TB, path string, x []float32) {
	t.Helper()
	b := make([]byte, 0, 4*len(x))
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadF32 reads raw little-endian float32 written by a Python oracle.
func ReadF32(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}
