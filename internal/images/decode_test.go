package images

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"runtime"
	"strings"
	"testing"
	"time"
)

// pngWithHeader is a PNG whose IHDR declares w x h 8-bit gray pixels and
// whose IDAT holds only one compressed row: a few hundred bytes that
// would make a decoder allocate w*h bytes.
func pngWithHeader(w, h uint32) []byte {
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
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 1+min(w, 4096)))
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return buf.Bytes()
}

// jpegWithHeader is a real 16x16 JPEG (tables, scan and all) whose SOF
// is rewritten to declare w x h: a decoder would allocate the w x h
// image before finding that the scan ends early.
func jpegWithHeader(t *testing.T, w, h uint16) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	sof := bytes.Index(b, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no baseline SOF in the encoded JPEG")
	}
	// SOF0: marker, length (2), precision (1), height (2), width (2).
	binary.BigEndian.PutUint16(b[sof+5:], h)
	binary.BigEndian.PutUint16(b[sof+7:], w)
	return b
}

// Issue 22, defect 1: images whose headers declare more pixels than the
// limit are refused from the header, with the size, the limit and the
// flag in the message, without the memory their pixels would take.
func TestTooLargeFromHeader(t *testing.T) {
	for _, c := range []struct {
		name  string
		b     []byte
		limit int64
		want  string
	}{
		{"png 30000x30000", pngWithHeader(30000, 30000), 0, "30000x30000 is 900000000 pixels, over the limit of 40000000 (--max-image-pixels)"},
		{"jpeg 60000x60000", jpegWithHeader(t, 60000, 60000), 0, "60000x60000 is 3600000000 pixels, over the limit of 40000000 (--max-image-pixels)"},
		{"png over a lower limit", pngWithHeader(2000, 2000), 1_000_000, "2000x2000 is 4000000 pixels, over the limit of 1000000"},
		{"png 40000000x1", pngWithHeader(40_000_000, 1), 0, "a side over 65535 pixels"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.b) > 64<<10 {
				t.Fatalf("the test's image is %d bytes, want a small file", len(c.b))
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := FromBytes(c.b, 224, 224, 3, Unit, c.limit)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "resize") {
				t.Errorf("error %v; want ErrTooLarge saying %q and to resize", err, c.want)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
				t.Errorf("refusing it allocated %d bytes", d)
			}
		})
	}
	// Within the limit the same path decodes (a real, complete image).
	if _, err := FromBytes(pngWithHeader(300, 1), 4, 4, 1, Raw, 300); err != nil {
		t.Errorf("a 300x1 image with a limit of 300 pixels: %v", err)
	}
}

// The decode budget serves in order, and lets an image larger than the
// whole budget through alone.
func TestDecodeBudget(t *testing.T) {
	b := &budget{size: 10}
	give1 := b.take(6)
	got := make(chan int, 3)
	go func() { g := b.take(6); got <- 2; g() }()
	waitWaiting(t, b, 1)
	go func() { g := b.take(100); got <- 3; g() }() // over the size: alone
	waitWaiting(t, b, 2)
	give1()
	if first, second := <-got, <-got; first != 2 || second != 3 {
		t.Errorf("served %d then %d; want 2 then 3", first, second)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used != 0 || len(b.waiting) != 0 {
		t.Errorf("after everything: %d used, %d waiting", b.used, len(b.waiting))
	}
}

func waitWaiting(t *testing.T, b *budget, n int) {
	t.Helper()
	for range 10000 {
		b.mu.Lock()
		k := len(b.waiting)
		b.mu.Unlock()
		if k == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("never %d waiting", n)
}
