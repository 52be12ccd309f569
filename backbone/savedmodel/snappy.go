package savedmodel

import (
	"encoding/binary"
	"fmt"
)

// maxSnappyRatio bounds how much Snappy can expand its input (64/3).
const maxSnappyRatio = 22

// snappyDecode decompresses one block in the Snappy format, which
// TensorFlow uses for SSTable blocks when a checkpoint's index was written
// with compression (e.g. by some MergeV2Checkpoints paths).
func snappyDecode(src []byte) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > 1<<30 {
		return nil, fmt.Errorf("%w: bad snappy length", ErrCorrupt)
	}
	// A 3-byte copy element yields at most 64 bytes: a block claiming more
	// than maxSnappyRatio times its size is damaged, and is refused
	// before dst is allocated.
	if n/maxSnappyRatio > uint64(len(src)) {
		return nil, fmt.Errorf("%w: a snappy block of %d bytes claims to decode to %d", ErrCorrupt, len(src), n)
	}
	dst := make([]byte, 0, n)
	for p := k; p < len(src); {
		tag := src[p]
		var length, offset int
		switch tag & 3 {
		case 0: // literal
			length = int(tag>>2) + 1
			p++
			if extra := length - 60; extra > 0 { // 1..4 length bytes follow
				if p+extra > len(src) {
					return nil, fmt.Errorf("%w: snappy literal header", ErrCorrupt)
				}
				length = 0
				for i := 0; i < extra; i++ {
					length |= int(src[p+i]) << (8 * i)
				}
				length++
				p += extra
			}
			if length <= 0 || length > len(src)-p {
				return nil, fmt.Errorf("%w: snappy literal overruns input", ErrCorrupt)
			}
			dst = append(dst, src[p:p+length]...)
			p += length
			continue
		case 1:
			if p+2 > len(src) {
				return nil, fmt.Errorf("%w: snappy copy", ErrCorrupt)
			}
			length = 4 + int(tag>>2)&7
			offset = int(tag&0xe0)<<3 | int(src[p+1])
			p += 2
		case 2:
			if p+3 > len(src) {
				return nil, fmt.Errorf("%w: snappy copy", ErrCorrupt)
			}
			length = 1 + int(tag>>2)
			offset = int(binary.LittleEndian.Uint16(src[p+1:]))
			p += 3
		case 3:
			if p+5 > len(src) {
				return nil, fmt.Errorf("%w: snappy copy", ErrCorrupt)
			}
			length = 1 + int(tag>>2)
			offset = int(binary.LittleEndian.Uint32(src[p+1:]))
			p += 5
		}
		if offset <= 0 || offset > len(dst) || uint64(len(dst)+length) > n {
			return nil, fmt.Errorf("%w: snappy copy out of range", ErrCorrupt)
		}
		for i := 0; i < length; i++ { // byte-wise: copies may overlap
			dst = append(dst, dst[len(dst)-offset])
		}
	}
	if uint64(len(dst)) != n {
		return nil, fmt.Errorf("%w: snappy block decodes to %d bytes, header says %d", ErrCorrupt, len(dst), n)
	}
	return dst, nil
}
