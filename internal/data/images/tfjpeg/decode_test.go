package tfjpeg

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// Properties that need no TensorFlow (make test); tf_test.go checks the
// bytes against tf.io.decode_jpeg itself (make test-tf).

// libjpeg's AAN scale table (jddctmgr.c documents it as 2^14 x s(u) x
// s(v)): its first row and diagonal.
func TestAANScales(t *testing.T) {
	row := []int32{16384, 22725, 21407, 19266, 16384, 12873, 8867, 4520}
	diag := []int32{16384, 31521, 27969, 22654, 16384, 10114, 4799, 1247}
	for i := range row {
		if aanScales[i] != row[i] || aanScales[9*i] != diag[i] {
			t.Errorf("aanScales[%d] = %d, [%d] = %d; want %d, %d", i, aanScales[i], 9*i, aanScales[9*i], row[i], diag[i])
		}
	}
}

// A DC-only block is flat: with a quantisation step of 1, DC value D
// gives floor(D/8) + 128, clamped, in every sample.
func TestIDCTDCOnlyFlat(t *testing.T) {
	var one [64]uint16
	for i := range one {
		one[i] = 1
	}
	qt := ifastTable(&one)
	out := make([]uint8, 64)
	for dc := int32(-1100); dc <= 1100; dc++ {
		blk := [64]int32{dc}
		idctIFAST(&blk, qt, out, 8)
		want := uint8(min(max(int(math.Floor(float64(dc)/8))+128, 0), 255))
		for i, v := range out {
			if v != want {
				t.Fatalf("DC %d: sample %d is %d, want %d", dc, i, v, want)
			}
		}
	}
}

// The fast IDCT stays within 5 levels of T.81's exact IDCT (A.3.3),
// with a quantisation step of 8 (the scaled table keeps 2 fraction bits:
// small steps lose precision).
func TestIDCTNearExact(t *testing.T) {
	var q8 [64]uint16
	for i := range q8 {
		q8[i] = 8
	}
	qt := ifastTable(&q8)
	rng := rand.New(rand.NewSource(1))
	out := make([]uint8, 64)
	worst := 0.0
	for n := 0; n < 2000; n++ {
		var blk [64]int32
		blk[0] = int32(rng.Intn(200) - 100)
		for k := 1; k < 64; k++ {
			if rng.Intn(3) == 0 {
				blk[k] = int32(rng.Intn(15) - 7)
			}
		}
		idctIFAST(&blk, qt, out, 8)
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				s := 0.0
				for v := 0; v < 8; v++ {
					for u := 0; u < 8; u++ {
						cu, cv := 1.0, 1.0
						if u == 0 {
							cu = 1 / math.Sqrt2
						}
						if v == 0 {
							cv = 1 / math.Sqrt2
						}
						s += cu * cv * float64(8*blk[8*v+u]) * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16) * math.Cos(float64(2*y+1)*float64(v)*math.Pi/16)
					}
				}
				exact := math.Min(math.Max(s/4+128, 0), 255)
				worst = math.Max(worst, math.Abs(float64(out[8*y+x])-exact))
			}
		}
	}
	if worst > 5 {
		t.Errorf("the fast IDCT is %.2f levels from the exact one at worst; want at most 5", worst)
	}
}

// libjpeg's triangle filters, worked by hand.
func TestFancyUpsampling(t *testing.T) {
	d := &decoder{width: 6, height: 2, hmax: 2, vmax: 2}
	c := &component{h: 1, v: 1, w: 3, hgt: 1, stride: 8, plane: make([]uint8, 16)}
	copy(c.plane, []uint8{0, 100, 200})
	dst := make([]uint8, 32)
	// h2v2 on a single row: the row above and below are the row itself,
	// so colsum = 4 x sample: (3*4a + 4b + 8) >> 4 and (.. + 7) >> 4.
	d.upsampleRow(c, 0, dst, make([]int32, 3))
	if want := []uint8{0, 25, 75, 125, 175, 200}; !bytes.Equal(dst[:6], want) {
		t.Errorf("h2v2 row 0: %v, want %v", dst[:6], want)
	}
	d.vmax = 1
	d.upsampleRow(c, 0, dst, nil)
	// (3a + left + 1) >> 2 and (3a + right + 2) >> 2.
	if want := []uint8{0, 25, 75, 125, 175, 200}; !bytes.Equal(dst[:6], want) {
		t.Errorf("h2v1: %v, want %v", dst[:6], want)
	}
	// h1v2 over two input rows 0 and 100: (3*near + far + 1 or 2) >> 2.
	d = &decoder{width: 1, height: 4, hmax: 1, vmax: 2}
	c = &component{h: 1, v: 1, w: 1, hgt: 2, stride: 8, plane: make([]uint8, 16)}
	c.plane[8] = 100
	var col []uint8
	for y := 0; y < 4; y++ {
		d.upsampleRow(c, y, dst, nil)
		col = append(col, dst[0])
	}
	if want := []uint8{0, 25, 75, 100}; !bytes.Equal(col, want) {
		t.Errorf("h1v2: %v, want %v", col, want)
	}
}

// libjpeg's YCbCr conversion at its extremes and at neutral chroma.
func TestYCbCr(t *testing.T) {
	for _, c := range []struct{ y, cb, cr, r, g, b int32 }{
		{128, 128, 128, 128, 128, 128},
		{0, 128, 128, 0, 0, 0},
		{255, 128, 128, 255, 255, 255},
		{76, 85, 255, 254, 0, 0}, // pure red, rounded through the tables
		{100, 0, 0, 0, 235, 0},
	} {
		r := clamp255(c.y + crR[c.cr])
		g := clamp255(c.y + (cbG[c.cb]+crG[c.cr])>>yccBits)
		b := clamp255(c.y + cbB[c.cb])
		if int32(r) != c.r || int32(g) != c.g || int32(b) != c.b {
			t.Errorf("YCbCr %d,%d,%d: RGB %d,%d,%d; want %d,%d,%d", c.y, c.cb, c.cr, r, g, b, c.r, c.g, c.b)
		}
	}
}

func encode(t *testing.T, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A solid gray JPEG at quality 100 decodes to its exact value; a solid
// colour one to a flat image within 2 levels of its colour.
func TestSolidColour(t *testing.T) {
	for _, v := range []uint8{0, 1, 100, 128, 200, 255} {
		g := image.NewGray(image.Rect(0, 0, 19, 11))
		for i := range g.Pix {
			g.Pix[i] = v
		}
		img, err := Decode(encode(t, g, 100))
		if err != nil {
			t.Fatal(err)
		}
		out := img.(*image.Gray)
		for i, p := range out.Pix {
			if p != v {
				t.Fatalf("gray %d: pixel %d is %d", v, i, p)
			}
		}
	}
	want := color.RGBA{200, 30, 90, 255}
	src := image.NewRGBA(image.Rect(0, 0, 37, 21))
	for i := 0; i < len(src.Pix); i += 4 {
		src.Pix[i], src.Pix[i+1], src.Pix[i+2], src.Pix[i+3] = want.R, want.G, want.B, 255
	}
	img, err := Decode(encode(t, src, 100))
	if err != nil {
		t.Fatal(err)
	}
	out := img.(*RGB)
	if out.Rect.Dx() != 37 || out.Rect.Dy() != 21 {
		t.Fatalf("size %v", out.Rect)
	}
	first := out.Pix[:3]
	for i := 0; i < len(out.Pix); i += 3 {
		if !bytes.Equal(out.Pix[i:i+3], first) {
			t.Fatalf("pixel %d is %v, pixel 0 %v: not flat", i/3, out.Pix[i:i+3], first)
		}
	}
	for i, w := range []uint8{want.R, want.G, want.B} {
		if d := int(first[i]) - int(w); d < -2 || d > 2 {
			t.Errorf("solid %v decodes to %v", want, first)
		}
	}
}

// On a photo-like image, Decode and Go's image/jpeg (another IDCT and
// upsampling) differ by little on average: both decode the same data.
func TestCloseToGoDecoder(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	src := image.NewRGBA(image.Rect(0, 0, 67, 45))
	for y := 0; y < 45; y++ {
		for x := 0; x < 67; x++ {
			src.Set(x, y, color.RGBA{uint8(3 * x), uint8(5 * y), uint8(128 + 60*math.Sin(float64(x)/9) + 30*math.Cos(float64(y)/7) + float64(rng.Intn(10))), 255})
		}
	}
	b := encode(t, src, 85) // 4:2:0
	img, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	g, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var sum, worst float64
	for y := 0; y < 45; y++ {
		for x := 0; x < 67; x++ {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			r2, g2, b2, _ := g.At(x, y).RGBA()
			for _, d := range []float64{float64(r1>>8) - float64(r2>>8), float64(g1>>8) - float64(g2>>8), float64(b1>>8) - float64(b2>>8)} {
				sum += math.Abs(d)
				worst = math.Max(worst, math.Abs(d))
			}
		}
	}
	// Go's YCbCr image replicates chroma (no triangle filter).
	if mean := sum / (67 * 45 * 3); mean > 2.5 || worst > 16 {
		t.Errorf("against image/jpeg: mean difference %.2f, worst %.0f levels", mean, worst)
	}
}

// What the decoder refuses, and how.
func TestRefused(t *testing.T) {
	good := encode(t, image.NewGray(image.Rect(0, 0, 8, 8)), 90)
	sof := bytes.Index(good, []byte{0xff, 0xc0})
	with := func(at int, b ...byte) []byte {
		c := append([]byte(nil), good...)
		copy(c[at:], b)
		return c
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"arithmetic", with(sof+1, 0xc9), ErrUnsupported},
		{"lossless", with(sof+1, 0xc3), ErrUnsupported},
		{"12-bit", with(sof+4, 12), ErrUnsupported},
		{"not a JPEG", []byte("GIF89a"), ErrFormat},
		{"cut in its header", good[:sof+6], ErrFormat},
		{"zero width", with(sof+7, 0, 0), ErrFormat},
	} {
		if _, err := Decode(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Two components: a frame header rewritten to declare them.
	two := append([]byte(nil), good[:sof]...)
	two = append(two, 0xff, 0xc0, 0, 14, 8, 0, 8, 0, 8, 2, 1, 0x11, 0, 2, 0x11, 0)
	if _, err := Config(two); !errors.Is(err, ErrUnsupported) {
		t.Errorf("2 components: %v, want ErrUnsupported", err)
	}
	// Four (CMYK): decoded to RGB, but not to gray, as TensorFlow.
	cmyk := append([]byte(nil), good[:sof]...)
	cmyk = append(cmyk, 0xff, 0xc0, 0, 20, 8, 0, 8, 0, 8, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0)
	if cfg, err := Config(cmyk); err != nil || cfg.ColorModel != color.CMYKModel {
		t.Errorf("CMYK: %v, %v", cfg.ColorModel, err)
	}
	if _, err := DecodeGray(cmyk); !errors.Is(err, ErrUnsupported) {
		t.Errorf("CMYK to gray: %v, want ErrUnsupported", err)
	}
}

// A file cut short (no EOI) is refused, as TensorFlow refuses it; data
// after EOI is ignored, as TensorFlow ignores it.
func TestTruncated(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 7)
	}
	b := encode(t, g, 90)
	for _, n := range []int{len(b) / 2, len(b) - 1, len(b) - 2} {
		if _, err := Decode(b[:n]); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("cut to %d of %d bytes: %v, want truncated", n, len(b), err)
		}
	}
	if _, err := Decode(append(b[:len(b):len(b)], "garbage"...)); err != nil {
		t.Errorf("with bytes after EOI: %v", err)
	}
}

func BenchmarkDecode(b *testing.B) {
	rng := rand.New(rand.NewSource(3))
	src := image.NewRGBA(image.Rect(0, 0, 1600, 1200))
	for y := 0; y < 1200; y++ {
		for x := 0; x < 1600; x++ {
			src.Set(x, y, color.RGBA{uint8(x/7 + rng.Intn(20)), uint8(y/5 + rng.Intn(20)), uint8(128 + 100*math.Sin(float64(x+y)/40)), 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, src, &jpeg.Options{Quality: 90})
	data := buf.Bytes()
	b.Run("tfjpeg", func(b *testing.B) {
		b.SetBytes(1600 * 1200)
		for i := 0; i < b.N; i++ {
			if _, err := Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image-jpeg", func(b *testing.B) {
		b.SetBytes(1600 * 1200)
		for i := 0; i < b.N; i++ {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Hostile bytes end in an error, never a panic or a hang (go test -fuzz
// FuzzDecode for more than the seeds).
func FuzzDecode(f *testing.F) {
	g := image.NewRGBA(image.Rect(0, 0, 19, 11))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 13)
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, g, &jpeg.Options{Quality: 75})
	f.Add(buf.Bytes())
	gray := image.NewGray(image.Rect(0, 0, 9, 17))
	buf.Reset()
	jpeg.Encode(&buf, gray, nil)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Config(b)
		if err != nil || cfg.Width*cfg.Height > 1<<20 {
			return
		}
		Decode(b)
		DecodeGray(b)
	})
}
