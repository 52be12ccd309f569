package savedmodel

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	tpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// Issue 22, defect 2's siblings: a length or shape read from a checkpoint
// that says more than the file holds is a corrupt file, found before the
// buffer it asks for is allocated.
func TestLyingLengthsAllocateNothing(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "variables")
	shard := prefix + ".data-00000-of-00001"
	if err := os.WriteFile(shard, []byte{1, 0, 0, 0, 0, 0, 0, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(e *BundleEntry) func() error {
		return func() error {
			e.Key = "k"
			b := &Bundle{prefix: prefix, shards: 1, entries: map[string]*BundleEntry{"k": e}}
			_, err := b.Read("k")
			return err
		}
	}
	for name, run := range map[string]func() error{
		// 1 GiB of floats at an offset near 2^63: Offset+Size overflows.
		"entry past the end, overflowing": read(&BundleEntry{DType: tensor.Float32, Shape: []int{1 << 28}, Offset: math.MaxInt64 - 16, Size: 1 << 30}),
		// 2^28 strings (6 GiB of slice headers) in an 8-byte entry.
		"more strings than bytes": read(&BundleEntry{DType: tensor.String, Shape: []int{1 << 28}, Size: 8}),
		// A graph's Const: one string repeated 2^28 times (6 GiB).
		"string splat": func() error {
			_, err := TensorFromProto(&tpb.TensorProto{Dtype: typb.DataType_DT_STRING, StringVal: [][]byte{[]byte("x")},
				TensorShape: &shpb.TensorShapeProto{Dim: []*shpb.TensorShapeProto_Dim{{Size: 1 << 28}}}})
			return err
		},
		// A 3-byte block claiming to decompress to 1 GiB.
		"snappy block claiming 1 GiB": func() error {
			_, err := snappyDecode(append(binary.AppendUvarint(nil, 1<<30), 0, 'x'))
			return err
		},
	} {
		before := allocated()
		err := run()
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
		if got := allocated() - before; got > 1<<20 {
			t.Errorf("%s: reading it allocated %d bytes", name, got)
		}
	}
}

func allocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
