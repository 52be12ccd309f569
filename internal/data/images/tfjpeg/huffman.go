package tfjpeg

import "fmt"

// lookBits is the width of the fast Huffman lookup: most codes are
// shorter, longer ones take the canonical decode of T.81 F.2.2.3.
const lookBits = 9

// huffman is one table, built from its BITS and HUFFVAL lists (T.81
// Annex C): canonical codes, assigned in order of length.
type huffman struct {
	// fast[peek] is length<<8 | value for a code of at most lookBits
	// bits that starts peek, 0 when longer.
	fast [1 << lookBits]uint16
	// maxcode[l] is the largest code of length l (-1: none), valptr[l]
	// the index in vals of the first one, mincode[l] its code.
	maxcode [18]int32
	mincode [17]int32
	valptr  [17]int32
	vals    []uint8
}

func newHuffman(counts [17]int, vals []uint8) (*huffman, error) {
	h := &huffman{vals: append([]uint8(nil), vals...)}
	code, k := int32(0), 0
	for l := 1; l <= 16; l++ {
		h.valptr[l] = int32(k)
		h.mincode[l] = code
		for i := 0; i < counts[l]; i++ {
			if code >= 1<<l {
				return nil, fmt.Errorf("%w: Huffman table with more codes of length %d than fit", ErrFormat, l)
			}
			if l <= lookBits {
				shift := lookBits - l
				lo := int(code) << shift
				for j := 0; j < 1<<shift; j++ {
					h.fast[lo+j] = uint16(l)<<8 | uint16(vals[k])
				}
			}
			code++
			k++
		}
		if counts[l] > 0 {
			h.maxcode[l] = code - 1
		} else {
			h.maxcode[l] = -1
		}
		if code >= 1<<l && counts[l] > 0 { // no code may be all ones (T.81 C.2; libjpeg refuses it)
			return nil, fmt.Errorf("%w: Huffman table with an all-ones code of length %d", ErrFormat, l)
		}
		code <<= 1
	}
	h.maxcode[17] = 1 << 30 // sentinel: stops the slow decode
	return h, nil
}

// bitReader reads the entropy-coded segment of a scan: a stuffed 0xFF00
// is a 0xFF byte; a marker (or the end of the data) ends the segment, and
// reads past it get zero bits, as libjpeg supplies them.
type bitReader struct {
	data   []byte
	pos    int    // next byte to read; at a marker, its 0xFF
	acc    uint64 // bits, left-aligned
	n      uint   // valid bits in acc
	pad    uint   // of which the last pad are zeros past the segment's end
	marker bool   // the segment ended at pos
	// short: a read needed bits past the segment's end (libjpeg's
	// insufficient_data): the scan's later MCUs are left as they are.
	short bool
}

func (b *bitReader) fill() {
	for b.n <= 56 {
		var c byte
		if !b.marker {
			if b.pos >= len(b.data) {
				b.marker = true
			} else if c = b.data[b.pos]; c != 0xFF {
				b.pos++
			} else {
				p := b.pos + 1
				for p < len(b.data) && b.data[p] == 0xFF {
					p++
				}
				if p < len(b.data) && b.data[p] == 0 {
					b.pos = p + 1
				} else {
					b.marker, b.pos, c = true, p-1, 0
				}
			}
		}
		if b.marker {
			b.pad += 8
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// skip drops l bits, noting a read past the segment's end.
func (b *bitReader) skip(l uint) {
	real := b.n - b.pad
	if l > real {
		b.short, real = true, 0
	} else {
		real -= l
	}
	b.acc <<= l
	b.n -= l
	b.pad = b.n - real
}

// receive reads s bits (s <= 16) as an unsigned value.
func (b *bitReader) receive(s uint) int32 {
	if s == 0 {
		return 0
	}
	if b.n < s {
		b.fill()
	}
	v := int32(b.acc >> (64 - s))
	b.skip(s)
	return v
}

// extend makes the signed value of an s-bit magnitude category (T.81
// F.2.2.1).
func extend(v int32, s uint) int32 {
	if s > 0 && v < 1<<(s-1) {
		v -= 1<<s - 1
	}
	return v
}

// decode reads one Huffman-coded symbol. A bit string that is no code of
// the table reads as symbol 0 after 17 bits, as libjpeg reads it (with a
// warning): TensorFlow decodes such files.
func (b *bitReader) decode(h *huffman) uint8 {
	if b.n < 24 {
		b.fill()
	}
	if e := h.fast[b.acc>>(64-lookBits)]; e != 0 {
		b.skip(uint(e >> 8))
		return uint8(e)
	}
	code := int32(b.acc >> (64 - lookBits))
	l := lookBits
	for ; l <= 16 && code > h.maxcode[l]; l++ {
		code = code<<1 | int32(b.acc>>(63-uint(l))&1)
	}
	b.skip(uint(l))
	if l > 16 {
		return 0
	}
	return h.vals[h.valptr[l]+code-h.mincode[l]]
}
