package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestRoundTripAndLayout(t *testing.T) {
	var buf bytes.Buffer
	in := []Tensor{{Name: "w", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}, {Name: "b", Shape: []int{1}, Data: []float32{-0.5}}}
	if err := Write(&buf, in, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 {
		t.Errorf("data starts at %d, not 8-byte aligned", 8+n)
	}
	// The first tensor's data follows the header as little-endian float32:
	// 1.0 is 0x3f800000.
	if got := binary.LittleEndian.Uint32(raw[8+n:]); got != 0x3f800000 {
		t.Errorf("first value bits %#x, want 0x3f800000", got)
	}
	f, err := Read(raw)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["k"] != "v" || f.Tensors["b"].Data[0] != -0.5 || f.Tensors["w"].Data[3] != 4 || f.Tensors["w"].Shape[1] != 2 {
		t.Errorf("round trip lost data: %+v", f)
	}
}

func TestRejectsDamage(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, []Tensor{{Name: "w", Shape: []int{3}, Data: []float32{1, 2, 3}}}, nil); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	header := func(js string) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
		return append(b, js...)
	}
	cases := map[string][]byte{
		"truncated data":   good[:len(good)-1],
		"trailing bytes":   append(append([]byte(nil), good...), 0),
		"huge header":      binary.LittleEndian.AppendUint64(nil, 1<<40),
		"bad json":         header("{"),
		"wrong dtype":      header(`{"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}`),
		"offsets mismatch": append(header(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`), 0, 0, 0, 0),
		"overlap":          append(header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`), 0, 0, 0, 0),
		"absurd shape":     header(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`),
	}
	for name, raw := range cases {
		if _, err := Read(raw); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v, want ErrFormat", name, err)
		}
	}
}
