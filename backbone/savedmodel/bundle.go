package savedmodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	pb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/base/wrap"
	"github.com/graft-ml/graft/internal/util/crc32c"
)

// A TensorBundle (TensorFlow's V2 checkpoint format) is PREFIX.index, an
// SSTable mapping each tensor key to a BundleEntryProto (the empty key holds
// the BundleHeaderProto), plus data shards PREFIX.data-NNNNN-of-MMMMM that
// hold the raw little-endian tensor bytes at the entry's offset.

// CheckpointGraphKey is the bundle key of the serialized
// TrackableObjectGraph that TF2 checkpoints carry.
const CheckpointGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH"

// BundleEntry describes one stored tensor.
type BundleEntry struct {
	Key    string
	DType  tensor.DType
	Shape  []int
	Shard  int
	Offset int64
	Size   int64
	CRC32C uint32 // unmasked
	sliced bool
}

// Bundle is an opened TensorBundle; values are read on demand.
type Bundle struct {
	prefix  string
	roots   Files
	shards  int
	entries map[string]*BundleEntry
	keys    []string
}

// OpenBundle reads the index of the bundle at prefix (for a SavedModel,
// DIR/variables/variables).
func OpenBundle(prefix string) (*Bundle, error) { return OpenBundleIn(nil, prefix) }

// OpenBundleIn is OpenBundle with the index and shards opened inside roots.
func OpenBundleIn(roots Files, prefix string) (*Bundle, error) {
	roots = filesOrPlain(roots)
	idx := prefix + ".index"
	data, err := roots.ReadFile(idx, maxGraphBytes)
	if err != nil {
		return nil, wrap.Errorf("savedmodel", err, "read checkpoint index")
	}
	b, err := parseBundleIndex(prefix, data)
	if err != nil {
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrChecksum) {
			return nil, hint.With(wrap.Errorf("savedmodel", err, "checkpoint index %s", idx), "the file is damaged: copy the SavedModel's variables/ directory again")
		}
		return nil, wrap.Errorf("savedmodel", err, "checkpoint index %s", idx)
	}
	b.roots = roots
	return b, nil
}

func parseBundleIndex(prefix string, data []byte) (*Bundle, error) {
	kvs, err := readTable(data)
	if err != nil {
		return nil, err
	}
	if len(kvs) == 0 || len(kvs[0].key) != 0 {
		return nil, fmt.Errorf("%w: no bundle header entry", ErrCorrupt)
	}
	var hdr pb.BundleHeaderProto
	if err := proto.Unmarshal(kvs[0].value, &hdr); err != nil {
		return nil, fmt.Errorf("%w: bundle header: %v", ErrCorrupt, err)
	}
	if hdr.Endianness != pb.BundleHeaderProto_LITTLE {
		return nil, fmt.Errorf("%w: big-endian checkpoint", ErrUnsupported)
	}
	if hdr.NumShards <= 0 || hdr.NumShards > 1<<20 {
		return nil, fmt.Errorf("%w: bundle header says %d shards", ErrCorrupt, hdr.NumShards)
	}
	b := &Bundle{prefix: prefix, shards: int(hdr.NumShards), entries: map[string]*BundleEntry{}}
	for _, e := range kvs[1:] {
		key := string(e.key)
		var ep pb.BundleEntryProto
		if err := proto.Unmarshal(e.value, &ep); err != nil {
			return nil, fmt.Errorf("%w: entry %q: %v", ErrCorrupt, key, err)
		}
		shape, err := shapeOf(ep.Shape)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %q: %v", ErrCorrupt, key, err)
		}
		if ep.ShardId < 0 || int(ep.ShardId) >= b.shards || ep.Offset < 0 || ep.Size < 0 {
			return nil, fmt.Errorf("%w: entry %q: shard %d offset %d size %d out of range", ErrCorrupt, key, ep.ShardId, ep.Offset, ep.Size)
		}
		b.entries[key] = &BundleEntry{
			Key: key, DType: dtypeOf(ep.Dtype), Shape: shape, Shard: int(ep.ShardId),
			Offset: ep.Offset, Size: ep.Size, CRC32C: crc32c.Unmask(ep.Crc32C), sliced: len(ep.Slices) > 0,
		}
		b.keys = append(b.keys, key)
	}
	return b, nil
}

// Keys lists the stored tensor keys in sorted order.
func (b *Bundle) Keys() []string { return append([]string(nil), b.keys...) }

// Entry returns the metadata of key.
func (b *Bundle) Entry(key string) (*BundleEntry, bool) {
	e, ok := b.entries[key]
	return e, ok
}

// ShardPath is the file name of data shard i.
func (b *Bundle) ShardPath(i int) string {
	return fmt.Sprintf("%s.data-%05d-of-%05d", b.prefix, i, b.shards)
}

// Read loads, checksums and decodes the tensor stored under key.
func (b *Bundle) Read(key string) (*tensor.Tensor, error) {
	e, ok := b.entries[key]
	if !ok {
		return nil, fmt.Errorf("%w: key %q is not in checkpoint %s.index", ErrMissingVariables, key, b.prefix)
	}
	if e.sliced {
		return nil, fmt.Errorf("%w: key %q is a partitioned (sliced) variable", ErrUnsupported, key)
	}
	path := b.ShardPath(e.Shard)
	t, err := b.read(e, path)
	if err != nil {
		return nil, wrap.Errorf("savedmodel", err, "checkpoint %s, key %q", path, key)
	}
	return t, nil
}

func (b *Bundle) read(e *BundleEntry, path string) (*tensor.Tensor, error) {
	if e.DType != tensor.String && e.DType.Size() == 0 {
		return nil, fmt.Errorf("%w: dtype %s", ErrUnsupported, e.DType)
	}
	n := tensor.NumElements(e.Shape)
	if es := e.DType.Size(); es > 0 && int64(n)*int64(es) != e.Size {
		return nil, fmt.Errorf("%w: %s%v needs %d bytes but the index says %d", ErrCorrupt, e.DType, e.Shape, n*es, e.Size)
	}
	f, err := filesOrPlain(b.roots).Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: data shard missing (copy every variables.data-* file of the SavedModel)", ErrMissingVariables)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if e.Offset > st.Size() || e.Size > st.Size()-e.Offset { // Offset+Size could overflow
		return nil, fmt.Errorf("%w: shard is %d bytes but the entry needs bytes [%d,%d): the file is truncated, copy it again", ErrCorrupt, st.Size(), e.Offset, e.Offset+e.Size)
	}
	buf := make([]byte, e.Size)
	if _, err := f.ReadAt(buf, e.Offset); err != nil && !(errors.Is(err, io.EOF) && e.Size == 0) {
		return nil, err
	}
	if e.DType == tensor.String {
		return decodeStrings(buf, e)
	}
	if got := crc32c.Checksum(buf); got != e.CRC32C {
		return nil, fmt.Errorf("%w: stored crc32c %08x, computed %08x: the shard is damaged, copy it again", ErrChecksum, e.CRC32C, got)
	}
	return decodeRaw(e.DType, e.Shape, buf)
}

// decodeStrings reads TensorFlow's string layout: one varint64 length per
// element, a masked crc32c of the lengths (each hashed as a uint32), then
// the bytes. The entry checksum covers the uint32 lengths, the length
// checksum and the bytes.
func decodeStrings(buf []byte, e *BundleEntry) (*tensor.Tensor, error) {
	// Each string has at least a one-byte length: a shape with more
	// elements than the entry has bytes is damaged, and is refused before
	// the tensor is allocated.
	n := tensor.NumElements(e.Shape)
	if n > len(buf) {
		return nil, fmt.Errorf("%w: %d strings cannot fit an entry of %d bytes", ErrCorrupt, n, len(buf))
	}
	t := tensor.New(tensor.String, e.Shape...)
	if n == 0 {
		return t, nil
	}
	lens := make([]uint64, n)
	var crc uint32
	p := 0
	var tmp [8]byte
	for i := range lens {
		v, k := binary.Uvarint(buf[p:])
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad string length %d", ErrCorrupt, i)
		}
		p += k
		lens[i] = v
		if v <= 0xffffffff {
			binary.LittleEndian.PutUint32(tmp[:4], uint32(v))
			crc = crc32c.Extend(crc, tmp[:4])
		} else {
			binary.LittleEndian.PutUint64(tmp[:], v)
			crc = crc32c.Extend(crc, tmp[:])
		}
	}
	if len(buf)-p < 4 {
		return nil, fmt.Errorf("%w: string lengths overrun the entry", ErrCorrupt)
	}
	lc := binary.LittleEndian.Uint32(buf[p:])
	if crc32c.Unmask(lc) != crc {
		return nil, fmt.Errorf("%w: string length checksum", ErrChecksum)
	}
	crc = crc32c.Extend(crc, buf[p:p+4])
	p += 4
	for i, l := range lens {
		if l > uint64(len(buf)-p) {
			return nil, fmt.Errorf("%w: string %d overruns the entry", ErrCorrupt, i)
		}
		t.S[i] = append([]byte(nil), buf[p:p+int(l)]...)
		crc = crc32c.Extend(crc, t.S[i])
		p += int(l)
	}
	if crc != e.CRC32C {
		return nil, fmt.Errorf("%w: stored crc32c %08x, computed %08x: the shard is damaged, copy it again", ErrChecksum, e.CRC32C, crc)
	}
	return t, nil
}

// BundleWriter builds a single-shard TensorBundle in memory, laid out as
// TensorFlow's BundleWriter does (entries in key order, no padding).
type BundleWriter struct {
	data    []byte
	entries map[string]*pb.BundleEntryProto
}

// NewBundleWriter returns an empty writer.
func NewBundleWriter() *BundleWriter {
	return &BundleWriter{entries: map[string]*pb.BundleEntryProto{}}
}

// Add appends t under key. Keys must be unique and non-empty.
func (w *BundleWriter) Add(key string, t *tensor.Tensor) error {
	if key == "" {
		return fmt.Errorf("savedmodel: bundle: empty key is reserved for the header")
	}
	if _, dup := w.entries[key]; dup {
		return fmt.Errorf("savedmodel: bundle: duplicate key %q", key)
	}
	var raw []byte
	var crc uint32
	if t.DType == tensor.String {
		raw, crc = encodeStrings(t)
	} else {
		var err error
		if raw, err = encodeRaw(t); err != nil {
			return wrap.Errorf("savedmodel", err, "bundle key %q", key)
		}
		crc = crc32c.Checksum(raw)
	}
	w.entries[key] = &pb.BundleEntryProto{
		Dtype: dtypeProto(t.DType), Shape: shapeProto(t.Shape),
		Offset: int64(len(w.data)), Size: int64(len(raw)), Crc32C: crc32c.Mask(crc),
	}
	w.data = append(w.data, raw...)
	return nil
}

func encodeStrings(t *tensor.Tensor) ([]byte, uint32) {
	var out []byte
	var crc uint32
	var tmp [8]byte
	for _, s := range t.S {
		out = binary.AppendUvarint(out, uint64(len(s)))
		binary.LittleEndian.PutUint32(tmp[:4], uint32(len(s)))
		crc = crc32c.Extend(crc, tmp[:4])
	}
	out = binary.LittleEndian.AppendUint32(out, crc32c.Mask(crc))
	crc = crc32c.Extend(crc, out[len(out)-4:])
	for _, s := range t.S {
		out = append(out, s...)
		crc = crc32c.Extend(crc, s)
	}
	return out, crc
}

// Finish returns the index and the single data shard's bytes.
func (w *BundleWriter) Finish() (index, data []byte, err error) {
	tw := newTableWriter()
	hdr, err := proto.Marshal(&pb.BundleHeaderProto{
		NumShards: 1, Endianness: pb.BundleHeaderProto_LITTLE,
		Version: versionDef(1, 0),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := tw.add(nil, hdr); err != nil {
		return nil, nil, err
	}
	keys := make([]string, 0, len(w.entries))
	for k := range w.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := proto.MarshalOptions{Deterministic: true}.Marshal(w.entries[k])
		if err != nil {
			return nil, nil, err
		}
		if err := tw.add([]byte(k), v); err != nil {
			return nil, nil, err
		}
	}
	return tw.finish(), w.data, nil
}
