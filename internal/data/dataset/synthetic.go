package dataset

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// SyntheticPrefix starts a synthetic data source, for tests and scale
// simulations only: "synthetic:N" or "synthetic:N:HxW" is N grey PNG
// images of H x W pixels (28 x 28 unless given) in SyntheticClasses
// classes, generated on the fly from the sample's index, the same bytes
// every time: a data set of any size with no files. Sample i is in class
// i mod 10; every SyntheticDupEvery-th sample repeats the image of the
// sample ten before it (same class), so that duplicate detection has
// groups to find.
const SyntheticPrefix = "synthetic:"

// SyntheticClasses is how many classes a synthetic source has.
const SyntheticClasses = 10

// SyntheticDupEvery is how often a synthetic sample repeats an earlier
// one (samples 999, 1999, ... repeat 989, 1989, ...).
const SyntheticDupEvery = 1000

// synthetic is a synthetic source's parameters, shared by its samples.
type synthetic struct{ h, w int }

// openSynthetic parses spec ("synthetic:N[:HxW]") into its data set.
func openSynthetic(spec string, opts Options) (*Dataset, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: %s: %s; write synthetic:N or synthetic:N:HxW (N images of H x W pixels, for tests and scale simulations)", ErrSource, spec, why)
	}
	parts := strings.Split(strings.TrimPrefix(spec, SyntheticPrefix), ":")
	if len(parts) > 2 {
		return nil, bad("too many fields")
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 1 {
		return nil, bad("N is not a positive number of images")
	}
	src := &synthetic{h: 28, w: 28}
	if len(parts) == 2 {
		hs, ws, ok := strings.Cut(parts[1], "x")
		h, herr := strconv.Atoi(hs)
		w, werr := strconv.Atoi(ws)
		if !ok || herr != nil || werr != nil || h < 1 || w < 1 || h*w > 4096*4096 {
			return nil, bad("HxW is not an image size (e.g. 224x224)")
		}
		src.h, src.w = h, w
	}
	classes := make([]string, SyntheticClasses)
	for i := range classes {
		classes[i] = fmt.Sprintf("c%d", i)
	}
	if opts.Classes != nil && !slices.Equal(opts.Classes, classes) {
		return nil, fmt.Errorf("%w: %s has classes c0..c9, the imposed class map is %s", ErrLabel, spec, quoteList(opts.Classes, 5))
	}
	ds := &Dataset{Source: spec, Kind: KindSynthetic, Classes: classes, Samples: make([]Sample, n)}
	for i := range ds.Samples {
		// The ID is the only per-sample allocation; Path is the spec,
		// shared.
		ds.Samples[i] = Sample{ID: "synthetic/" + strconv.Itoa(i), Label: i % SyntheticClasses, Path: spec, Record: i, synth: src}
	}
	return ds, nil
}

// encoders keeps the PNG encoders' buffers (a zlib writer each) from
// one image to the next.
var encoders = &encoderPool{}

type encoderPool struct{ p sync.Pool }

func (e *encoderPool) Get() *png.EncoderBuffer {
	b, _ := e.p.Get().(*png.EncoderBuffer)
	return b
}

func (e *encoderPool) Put(b *png.EncoderBuffer) { e.p.Put(b) }

// encode makes sample i's PNG: a seeded noise image whose mean
// brightness depends on the class, so a head can learn something.
func (s *synthetic) encode(i int) ([]byte, error) {
	if i%SyntheticDupEvery == SyntheticDupEvery-1 {
		i -= SyntheticClasses // a duplicate, of the same class
	}
	rng := rand.NewPCG(uint64(i), 0x5ca1e)
	img := image.NewGray(image.Rect(0, 0, s.w, s.h))
	base := uint8(20 * (i % SyntheticClasses))
	var bits uint64
	for p := range img.Pix {
		if p%8 == 0 {
			bits = rng.Uint64()
		}
		img.Pix[p] = base + uint8(bits&63) // 0..63 over the class's base
		bits >>= 8
	}
	img.SetGray(0, 0, color.Gray{Y: uint8(i)}) // distinct images however the noise falls
	var b bytes.Buffer
	// Stored, not deflated: noise does not compress, and a million
	// images hash in seconds.
	enc := png.Encoder{CompressionLevel: png.NoCompression, BufferPool: encoders}
	if err := enc.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", SyntheticPrefix, err)
	}
	return b.Bytes(), nil
}
