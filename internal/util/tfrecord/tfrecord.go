package tfrecord

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/graft-ml/graft/internal/util/crc32c"
)

// ErrCorrupt reports a damaged or truncated record.
var ErrCorrupt = errors.New("tfrecord: corrupt record")

// MaxRecord bounds one record (as graft bounds one image file): a length
// prefix over it is damage or an attack, never data, and is refused
// before anything is allocated.
const MaxRecord = 256 << 20

// Writer appends records.
type Writer struct {
	w io.Writer
}

// NewWriter writes records to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write appends one record.
func (w *Writer) Write(data []byte) error {
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(head[8:], crc32c.Mask(crc32c.Checksum(head[:8])))
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], crc32c.Mask(crc32c.Checksum(data)))
	for _, b := range [][]byte{head[:], data, tail[:]} {
		if _, err := w.w.Write(b); err != nil {
			return fmt.Errorf("tfrecord: %w", err)
		}
	}
	return nil
}

// Reader reads records one by one.
type Reader struct {
	r    *bufio.Reader
	n    int   // records read
	off  int64 // byte offset of the next record
	size int64 // bytes r holds from where it starts
}

// NewReader reads records from r, which holds size bytes (a file's size
// from Stat, less where r starts): a length prefix that says more than
// what is left is caught before its buffer is allocated.
func NewReader(r io.Reader, size int64) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 1<<16), size: size}
}

// Next returns the next record's data, or io.EOF after the last one.
func (r *Reader) Next() ([]byte, error) {
	var head [12]byte
	n, err := io.ReadFull(r.r, head[:])
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case err != nil:
		return nil, r.corrupt("header truncated after %d of 12 bytes", n)
	}
	if crc32c.Mask(crc32c.Checksum(head[:8])) != binary.LittleEndian.Uint32(head[8:]) {
		return nil, r.corrupt("length checksum mismatch")
	}
	size := binary.LittleEndian.Uint64(head[:8])
	if left := r.size - r.off - 12 - 4; left < 0 || size > uint64(left) {
		return nil, r.corrupt("its length prefix says %d bytes but the file has only %d bytes left for it", size, max(left, 0))
	}
	if size > MaxRecord {
		return nil, r.corrupt("length %d exceeds graft's limit of %d bytes per record", size, MaxRecord)
	}
	buf := make([]byte, size+4)
	if n, err := io.ReadFull(r.r, buf); err != nil {
		return nil, r.corrupt("data truncated after %d of %d bytes", n, size+4)
	}
	data := buf[:size]
	if crc32c.Mask(crc32c.Checksum(data)) != binary.LittleEndian.Uint32(buf[size:]) {
		return nil, r.corrupt("data checksum mismatch")
	}
	r.n++
	r.off += 12 + int64(size) + 4
	return data, nil
}

func (r *Reader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w %d (byte %d): %s: the file is damaged or was not written completely", ErrCorrupt, r.n, r.off, fmt.Sprintf(format, args...))
}
