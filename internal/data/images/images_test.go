package images

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-4 {
			t.Fatalf("%s: value %d = %v, want %v (all: %v)", what, i, got[i], want[i], got)
		}
	}
}

func TestResizeHandComputed(t *testing.T) {
	// Enlarging 2 -> 4 is half-pixel bilinear: [0, 2.5, 7.5, 10].
	near(t, "upscale", Resize([]float32{0, 10}, 1, 2, 1, 1, 4), []float32{0, 2.5, 7.5, 10})
	// Shrinking 4 -> 2 widens the triangle to 2 source pixels: output 0
	// centred at 1.0 weighs pixels 0,1,2 by .75,.75,.25 (pixel -1 is
	// outside and the weights renormalise): (0*.75+4*.75+8*.25)/1.75.
	near(t, "downscale", Resize([]float32{0, 4, 8, 12}, 1, 4, 1, 1, 2), []float32{5.0 / 1.75, (4*.25 + 8*.75 + 12*.75) / 1.75})
	// Separable in 2D, channels independent: a constant image stays constant.
	src := make([]float32, 5*7*3)
	for i := range src {
		src[i] = float32(i % 3)
	}
	out := Resize(src, 5, 7, 3, 3, 11)
	for i, v := range out {
		if math.Abs(float64(v)-float64(i%3)) > 1e-5 {
			t.Fatalf("constant image changed at %d: %v", i, v)
		}
	}
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestModesOnOnePixel(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{R: 255, G: 51, B: 0, A: 255})
	raw := encodePNG(t, img)
	cases := map[string][]float32{
		Raw:   {255, 51, 0},
		Unit:  {1, 0.2, 0},
		TF:    {1, 51/127.5 - 1, -1},
		Torch: {(1 - 0.485) / 0.229, (0.2 - 0.456) / 0.224, (0 - 0.406) / 0.225},
		Caffe: {0 - 103.939, 51 - 116.779, 255 - 123.68}, // BGR
	}
	for mode, want := range cases {
		got, err := FromBytes(raw, 1, 1, 3, mode, 0)
		if err != nil {
			t.Fatal(err)
		}
		near(t, mode, got, want)
	}
	gray, err := FromBytes(raw, 1, 1, 1, Raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "rgb to gray", gray, []float32{0.2989*255 + 0.5870*51})
}

func TestGrayToRGB(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 2, 1))
	img.SetGray(0, 0, color.Gray{Y: 10})
	img.SetGray(1, 0, color.Gray{Y: 200})
	got, err := FromBytes(encodePNG(t, img), 1, 2, 3, Raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "gray to rgb", got, []float32{10, 10, 10, 200, 200, 200})
}

func TestBadImages(t *testing.T) {
	clear := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	clear.Set(1, 1, color.NRGBA{R: 1, A: 128})
	for name, b := range map[string][]byte{
		"transparent": encodePNG(t, clear),
		"garbage":     []byte("not an image"),
		"truncated":   encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8)))[:40],
	} {
		if _, err := FromBytes(b, 4, 4, 3, Unit, 0); !errors.Is(err, ErrImage) {
			t.Errorf("%s: error %v, want ErrImage", name, err)
		}
	}
	if _, err := Convert(image.NewRGBA(image.Rect(0, 0, 0, 3)), 4, 4, 3, Unit); !errors.Is(err, ErrImage) {
		t.Errorf("empty image: %v", err)
	}
	if _, err := Convert(image.NewRGBA(image.Rect(0, 0, 1, 1)), 4, 4, 3, "imagenet"); !errors.Is(err, ErrImage) {
		t.Errorf("unknown mode: %v", err)
	}
	if _, err := Convert(image.NewRGBA(image.Rect(0, 0, 1, 1)), 4, 4, 2, Unit); !errors.Is(err, ErrImage) {
		t.Errorf("two channels: %v", err)
	}
}

// Convert streams the pixels into the resize a row at a time; the result
// must be, to the bit, Resize of the whole image as floats (the oracle:
// every pixel read with At, then the two-pass resize).
func TestConvertStreamsRowsLikeResize(t *testing.T) {
	cases := []struct {
		name   string
		img    image.Image
		dh, dw int
	}{
		{"rgb shrink", image.NewRGBA(image.Rect(0, 0, 37, 23)), 7, 5},
		{"rgb grow", image.NewNRGBA(image.Rect(0, 0, 5, 4)), 11, 13},
		{"gray shrink", image.NewGray(image.Rect(0, 0, 41, 29)), 6, 9},
		{"gray same size", image.NewGray(image.Rect(3, 2, 12, 9)), 7, 9},
		{"rgb one side", image.NewRGBA(image.Rect(0, 0, 16, 10)), 10, 4},
	}
	seed := uint32(1)
	next := func() uint8 { seed = seed*1664525 + 1013904223; return uint8(seed >> 24) }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.img.Bounds()
			c := 3
			if _, ok := tc.img.(*image.Gray); ok {
				c = 1
			}
			var whole []float32
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					switch m := tc.img.(type) {
					case *image.Gray:
						m.SetGray(x, y, color.Gray{next()})
					case *image.RGBA:
						m.SetRGBA(x, y, color.RGBA{next(), next(), next(), 255})
					case *image.NRGBA:
						m.SetNRGBA(x, y, color.NRGBA{next(), next(), next(), 255})
					}
					r, g, bl, _ := tc.img.At(x, y).RGBA()
					if c == 1 {
						whole = append(whole, float32(r)/257)
					} else {
						whole = append(whole, float32(r)/257, float32(g)/257, float32(bl)/257)
					}
				}
			}
			want := Resize(whole, b.Dy(), b.Dx(), c, tc.dh, tc.dw)
			got, err := Convert(tc.img, tc.dh, tc.dw, c, Raw)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("value %d: %v, Resize of the whole image %v", i, got[i], want[i])
				}
			}
		})
	}
}
