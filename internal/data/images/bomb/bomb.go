package bomb

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
)

// PNG is a PNG whose IHDR declares w x h 8-bit gray pixels and whose IDAT
// holds at most one row.
func PNG(w, h uint32) []byte { return gray(w, h, false) }

// FullPNG is a valid PNG of w x h black 8-bit gray pixels, every row
// there: a few KB (30000x30000 is 875 KB) that decode to w*h bytes.
func FullPNG(w, h uint32) []byte { return gray(w, h, true) }

func gray(w, h uint32, full bool) []byte {
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&buf, binary.BigEndian, uint32(len(data)))
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		buf.WriteString(typ)
		buf.Write(data)
		binary.Write(&buf, binary.BigEndian, c.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit gray
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if full {
		row := make([]byte, 1+w) // filter byte 0, then zeros
		for range h {
			zw.Write(row)
		}
	} else {
		zw.Write(make([]byte, 1+min(w, 4096))) // filter byte, then a row (or its start)
	}
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return buf.Bytes()
}

// JPEG is a real 16x16 baseline JPEG (tables, scan and all) whose SOF is
// rewritten to declare w x h.
func JPEG(w, h uint16) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 16, 16)), nil); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	sof := bytes.Index(b, []byte{0xff, 0xc0})
	if sof < 0 {
		return nil, fmt.Errorf("bomb: the encoded JPEG has no baseline SOF")
	}
	// SOF0: marker, length (2), precision (1), height (2), width (2).
	binary.BigEndian.PutUint16(b[sof+5:], h)
	binary.BigEndian.PutUint16(b[sof+7:], w)
	return b, nil
}
