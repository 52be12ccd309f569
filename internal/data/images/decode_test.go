package images

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/internal/data/images/bomb"
	"github.com/graft-ml/graft/internal/data/images/tfjpeg"
)

func jpegBomb(t *testing.T, w, h uint16) []byte {
	b, err := bomb.JPEG(w, h)
	if err != nil {
		t.Fatal(err)
	}
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
		{"png 30000x30000", bomb.PNG(30000, 30000), 0, "30000x30000 is 900000000 pixels, over the limit of 40000000 (--max-image-pixels)"},
		{"jpeg 60000x60000", jpegBomb(t, 60000, 60000), 0, "60000x60000 is 3600000000 pixels, over the limit of 40000000 (--max-image-pixels)"},
		{"png over a lower limit", bomb.PNG(2000, 2000), 1_000_000, "2000x2000 is 4000000 pixels, over the limit of 1000000"},
		{"png 40000000x1", bomb.PNG(40_000_000, 1), 0, "a side over 65535 pixels"},
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
	if _, err := FromBytes(bomb.PNG(300, 1), 4, 4, 1, Raw, 300); err != nil {
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

// JPEGs decode through tfjpeg: FromBytes at the image's own size gives
// its pixels, the luma for one channel; an arithmetic-coded one is
// refused as unsupported.
func TestJPEGThroughTFJPEG(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 23, 17))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*37 + i/50)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for _, c := range []int{3, 1} {
		x, err := FromBytes(b, 17, 23, c, Raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		var want []uint8
		if c == 3 {
			img, err := tfjpeg.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			want = img.(*tfjpeg.RGB).Pix
		} else {
			img, err := tfjpeg.DecodeGray(b)
			if err != nil {
				t.Fatal(err)
			}
			want = img.Pix
		}
		for i, v := range want {
			if math.Abs(float64(x[i])-float64(v)) > 1e-4 {
				t.Fatalf("%d channels: value %d is %g, tfjpeg's %d", c, i, x[i], v)
			}
		}
	}
	arith := append([]byte(nil), b...)
	arith[bytes.Index(arith, []byte{0xff, 0xc0})+1] = 0xc9
	if _, err := FromBytes(arith, 4, 4, 3, Raw, 0); !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), "arithmetic") {
		t.Errorf("arithmetic-coded: %v", err)
	}
}

// A photo-sized JPEG to a backbone's input, as training and predict
// decode it: tfjpeg against Go's image/jpeg (the decode before).
func BenchmarkJPEGToInput(b *testing.B) {
	src := image.NewRGBA(image.Rect(0, 0, 1600, 1200))
	for y := 0; y < 1200; y++ {
		for x := 0; x < 1600; x++ {
			i := src.PixOffset(x, y)
			src.Pix[i], src.Pix[i+1], src.Pix[i+2], src.Pix[i+3] = uint8(x/7+y%13), uint8(y/5+x%11), uint8(128+100*math.Sin(float64(x+y)/40)), 255
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, src, &jpeg.Options{Quality: 90})
	data := buf.Bytes()
	b.Run("tfjpeg", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := FromBytes(data, 224, 224, 3, TF, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image-jpeg", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			img, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Convert(img, 224, 224, 3, TF); err != nil {
				b.Fatal(err)
			}
		}
	})
}
