package savedmodel

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/graft-ml/graft/internal/util/crc32c"
)

// The TensorBundle index is an SSTable in LevelDB's table format (as in
// TensorFlow's tsl/lib/io): data blocks of prefix-compressed keys with
// restart points, an (empty) metaindex block, an index block mapping a
// separator key to each data block, and a fixed 48-byte footer. Every block
// is followed by a 5-byte trailer: compression type and masked crc32c.

const (
	tableMagic       = 0xdb4775248b80fb57
	footerLen        = 48 // two padded block handles (40) + magic (8)
	blockTrailerLen  = 5
	noCompression    = 0
	snappyCompressed = 1
	// Defaults of tsl::table::Options that TensorFlow's bundle writer uses.
	tableBlockSize       = 262144
	tableRestartInterval = 16
)

type kv struct {
	key, value []byte
}

type blockHandle struct{ offset, size uint64 }

func (h *blockHandle) decode(b []byte) (int, error) {
	off, n1 := binary.Uvarint(b)
	if n1 <= 0 {
		return 0, fmt.Errorf("bad block handle offset")
	}
	size, n2 := binary.Uvarint(b[n1:])
	if n2 <= 0 {
		return 0, fmt.Errorf("bad block handle size")
	}
	h.offset, h.size = off, size
	return n1 + n2, nil
}

func (h blockHandle) append(b []byte) []byte {
	b = binary.AppendUvarint(b, h.offset)
	return binary.AppendUvarint(b, h.size)
}

// readTable decodes every key/value of an SSTable held in memory, in key
// order. Index files are small, so reading them whole is simplest.
func readTable(data []byte) ([]kv, error) {
	if len(data) < footerLen {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the %d-byte table footer (truncated file?)", ErrCorrupt, len(data), footerLen)
	}
	footer := data[len(data)-footerLen:]
	if m := binary.LittleEndian.Uint64(footer[40:]); m != tableMagic {
		return nil, fmt.Errorf("%w: bad table magic %#x (not a TensorBundle index, or truncated)", ErrCorrupt, m)
	}
	var meta, index blockHandle
	n, err := meta.decode(footer)
	if err != nil {
		return nil, fmt.Errorf("%w: footer: %v", ErrCorrupt, err)
	}
	if _, err := index.decode(footer[n:]); err != nil {
		return nil, fmt.Errorf("%w: footer: %v", ErrCorrupt, err)
	}
	body := data[:len(data)-footerLen]
	indexBlock, err := readBlock(body, index, "index block")
	if err != nil {
		return nil, err
	}
	handles, err := blockEntries(indexBlock)
	if err != nil {
		return nil, fmt.Errorf("index block: %w", err)
	}
	var out []kv
	for _, h := range handles {
		var bh blockHandle
		if _, err := bh.decode(h.value); err != nil {
			return nil, fmt.Errorf("%w: index entry %q: %v", ErrCorrupt, h.key, err)
		}
		blk, err := readBlock(body, bh, fmt.Sprintf("data block at %d", bh.offset))
		if err != nil {
			return nil, err
		}
		ents, err := blockEntries(blk)
		if err != nil {
			return nil, fmt.Errorf("data block at %d: %w", bh.offset, err)
		}
		for _, e := range ents {
			if len(out) > 0 && bytes.Compare(out[len(out)-1].key, e.key) >= 0 {
				return nil, fmt.Errorf("%w: keys out of order at %q", ErrCorrupt, e.key)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// readBlock returns a block's contents after checking its trailer.
func readBlock(body []byte, h blockHandle, what string) ([]byte, error) {
	end := h.offset + h.size + blockTrailerLen
	if h.offset > uint64(len(body)) || end > uint64(len(body)) || end < h.offset {
		return nil, fmt.Errorf("%w: %s [%d,+%d) lies beyond the end of the file (%d bytes; truncated?)", ErrCorrupt, what, h.offset, h.size, len(body))
	}
	contents := body[h.offset : h.offset+h.size]
	trailer := body[h.offset+h.size : end]
	want := crc32c.Unmask(binary.LittleEndian.Uint32(trailer[1:]))
	got := crc32c.Extend(crc32c.Checksum(contents), trailer[:1])
	if got != want {
		return nil, fmt.Errorf("%w: %s: stored crc32c %08x, computed %08x", ErrChecksum, what, want, got)
	}
	switch trailer[0] {
	case noCompression:
		return contents, nil
	case snappyCompressed:
		b, err := snappyDecode(contents)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("%w: %s: unknown compression type %d", ErrCorrupt, what, trailer[0])
	}
}

// blockEntries decodes the prefix-compressed entries of one block.
func blockEntries(b []byte) ([]kv, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: block of %d bytes has no restart count", ErrCorrupt, len(b))
	}
	nr := uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if nr*4+4 > uint64(len(b)) {
		return nil, fmt.Errorf("%w: block claims %d restart points in %d bytes", ErrCorrupt, nr, len(b))
	}
	data := b[:uint64(len(b))-4-nr*4]
	var out []kv
	var prev []byte
	for p := 0; p < len(data); {
		var hdr [3]uint64
		for i := range hdr {
			v, n := binary.Uvarint(data[p:])
			if n <= 0 {
				return nil, fmt.Errorf("%w: bad entry header at %d", ErrCorrupt, p)
			}
			hdr[i] = v
			p += n
		}
		shared, unshared, vlen := hdr[0], hdr[1], hdr[2]
		if shared > uint64(len(prev)) || unshared+vlen > uint64(len(data)-p) {
			return nil, fmt.Errorf("%w: entry at %d overruns its block", ErrCorrupt, p)
		}
		key := make([]byte, 0, shared+unshared)
		key = append(append(key, prev[:shared]...), data[p:p+int(unshared)]...)
		p += int(unshared)
		out = append(out, kv{key: key, value: data[p : p+int(vlen)]})
		p += int(vlen)
		prev = key
	}
	return out, nil
}

// blockBuilder builds one block the way LevelDB's BlockBuilder does.
type blockBuilder struct {
	interval int
	buf      []byte
	restarts []uint32
	counter  int
	last     []byte
}

func newBlockBuilder(interval int) *blockBuilder {
	return &blockBuilder{interval: interval, restarts: []uint32{0}}
}

func (b *blockBuilder) empty() bool { return len(b.buf) == 0 }

func (b *blockBuilder) sizeEstimate() int { return len(b.buf) + 4*len(b.restarts) + 4 }

func (b *blockBuilder) add(key, value []byte) {
	shared := 0
	if b.counter < b.interval {
		for shared < len(key) && shared < len(b.last) && key[shared] == b.last[shared] {
			shared++
		}
	} else {
		b.restarts = append(b.restarts, uint32(len(b.buf)))
		b.counter = 0
	}
	b.buf = binary.AppendUvarint(b.buf, uint64(shared))
	b.buf = binary.AppendUvarint(b.buf, uint64(len(key)-shared))
	b.buf = binary.AppendUvarint(b.buf, uint64(len(value)))
	b.buf = append(b.buf, key[shared:]...)
	b.buf = append(b.buf, value...)
	b.last = append(b.last[:0], key...)
	b.counter++
}

func (b *blockBuilder) finish() []byte {
	out := b.buf
	for _, r := range b.restarts {
		out = binary.LittleEndian.AppendUint32(out, r)
	}
	return binary.LittleEndian.AppendUint32(out, uint32(len(b.restarts)))
}

// tableWriter writes an uncompressed SSTable with the same block layout,
// separator keys and footer as TensorFlow's TableBuilder.
type tableWriter struct {
	out          bytes.Buffer
	data, index  *blockBuilder
	lastKey      []byte
	pending      bool
	pendingBlock blockHandle
	entries      int
}

func newTableWriter() *tableWriter {
	return &tableWriter{data: newBlockBuilder(tableRestartInterval), index: newBlockBuilder(1)}
}

// add appends a key, which must sort after every earlier key.
func (w *tableWriter) add(key, value []byte) error {
	if w.entries > 0 && bytes.Compare(key, w.lastKey) <= 0 {
		return fmt.Errorf("savedmodel: table keys out of order: %q after %q", key, w.lastKey)
	}
	if w.entries > 0 && len(key)+len(value) >= 2*tableBlockSize {
		w.flush()
	}
	if w.pending {
		sep := shortestSeparator(w.lastKey, key)
		w.index.add(sep, w.pendingBlock.append(nil))
		w.pending = false
	}
	w.lastKey = append(w.lastKey[:0], key...)
	w.entries++
	w.data.add(key, value)
	if w.data.sizeEstimate() >= tableBlockSize {
		w.flush()
	}
	return nil
}

func (w *tableWriter) flush() {
	if w.data.empty() {
		return
	}
	w.pendingBlock = w.writeBlock(w.data)
	w.data = newBlockBuilder(tableRestartInterval)
	w.pending = true
}

func (w *tableWriter) writeBlock(b *blockBuilder) blockHandle {
	contents := b.finish()
	h := blockHandle{offset: uint64(w.out.Len()), size: uint64(len(contents))}
	w.out.Write(contents)
	trailer := []byte{noCompression, 0, 0, 0, 0}
	crc := crc32c.Extend(crc32c.Checksum(contents), trailer[:1])
	binary.LittleEndian.PutUint32(trailer[1:], crc32c.Mask(crc))
	w.out.Write(trailer)
	return h
}

// finish writes the metaindex, index and footer and returns the file bytes.
func (w *tableWriter) finish() []byte {
	w.flush()
	meta := w.writeBlock(newBlockBuilder(tableRestartInterval))
	if w.pending {
		w.index.add(shortSuccessor(w.lastKey), w.pendingBlock.append(nil))
		w.pending = false
	}
	index := w.writeBlock(w.index)
	footer := index.append(meta.append(nil))
	footer = append(footer, make([]byte, 40-len(footer))...)
	footer = binary.LittleEndian.AppendUint64(footer, tableMagic)
	w.out.Write(footer)
	return w.out.Bytes()
}

// shortestSeparator returns a short key k with start <= k < limit.
func shortestSeparator(start, limit []byte) []byte {
	s := append([]byte(nil), start...)
	n := min(len(s), len(limit))
	i := 0
	for i < n && s[i] == limit[i] {
		i++
	}
	if i < n && s[i] < 0xff && s[i]+1 < limit[i] {
		s[i]++
		return s[:i+1]
	}
	return s
}

// shortSuccessor returns a short key k >= key.
func shortSuccessor(key []byte) []byte {
	s := append([]byte(nil), key...)
	for i := range s {
		if s[i] != 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return s
}
