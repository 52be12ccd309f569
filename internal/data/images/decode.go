package images

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"sync"

	"github.com/graft-ml/graft/internal/data/images/tfjpeg"
)

// DefaultMaxPixels is the default of --max-image-pixels: 40 M pixels
// (an 8000x5000 photograph) is more than any backbone input needs.
const DefaultMaxPixels = 40_000_000

// MaxSide bounds an image's width and height whatever its pixels (JPEG's
// own limit): a 40000000x1 PNG is within the pixel limit but its resize
// filter alone would take gigabytes.
const MaxSide = 65535

// DecodeMemory bounds the bytes the images being decoded in this process
// hold at once (Cost of each); an image that needs more than this alone
// waits until it can decode alone.
const DecodeMemory = 1 << 30

// ErrTooLarge reports an image whose header declares more pixels than the
// limit: it is refused before any pixel is decoded.
var ErrTooLarge = fmt.Errorf("%w: too large", ErrImage)

// Header is what an encoded image says about itself before its pixels.
type Header struct {
	Format        string // "png" or "jpeg"
	Width, Height int
	Model         color.Model
	// Passes says the decoder holds more than the image: an interlaced
	// PNG (its passes), a JPEG that may be progressive (its coefficients).
	Passes bool
}

// ReadHeader reads the format and size of an encoded PNG or JPEG without
// decoding its pixels.
func ReadHeader(b []byte) (Header, error) {
	var decodeConfig func(io.Reader) (image.Config, error)
	var format string
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		format, decodeConfig = "png", png.DecodeConfig
	case bytes.HasPrefix(b, []byte("\xff\xd8")):
		format = "jpeg"
		decodeConfig = func(io.Reader) (image.Config, error) { return tfjpeg.Config(b) }
	default:
		return Header{}, fmt.Errorf("%w: its header is neither a PNG's nor a JPEG's", ErrImage)
	}
	cfg, err := decodeConfig(bytes.NewReader(b))
	if errors.Is(err, tfjpeg.ErrUnsupported) {
		return Header{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	if err != nil {
		return Header{}, fmt.Errorf("%w: cannot read the %s header (%v): is it a complete PNG or JPEG file?", ErrImage, format, err)
	}
	h := Header{Format: format, Width: cfg.Width, Height: cfg.Height, Model: cfg.ColorModel}
	if format == "png" {
		h.Passes = len(b) > 28 && b[28] != 0 // IHDR's interlace method
	} else {
		// An SOF2 marker (progressive), here or in an embedded thumbnail:
		// entropy-coded data cannot hold one (0xff is stuffed there).
		h.Passes = bytes.Contains(b, []byte{0xff, 0xc2})
	}
	return h, nil
}

// Pixels is the number of pixels the header declares.
func (h Header) Pixels() int64 { return int64(h.Width) * int64(h.Height) }

// Check refuses an image with more than maxPixels pixels (<= 0:
// DefaultMaxPixels) or a side over MaxSide, with an ErrTooLarge error.
func (h Header) Check(maxPixels int64) error {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if px := h.Pixels(); px > maxPixels {
		return fmt.Errorf("%w: %dx%d is %d pixels, over the limit of %d (--max-image-pixels): resize the image (or raise the limit)", ErrTooLarge, h.Width, h.Height, px, maxPixels)
	}
	if h.Width > MaxSide || h.Height > MaxSide {
		return fmt.Errorf("%w: %dx%d has a side over %d pixels: resize the image", ErrTooLarge, h.Width, h.Height, MaxSide)
	}
	return nil
}

// Cost estimates the bytes decoding the image and converting it to dh x
// dw x c take at their peak: the decoder's image (and an interlaced
// PNG's passes; a JPEG's component planes, and a progressive one's int16
// coefficients), the resize's intermediate rows and filter taps (the
// pixels reach the resize a row at a time, never as a float copy of the
// whole image).
func (h Header) Cost(dh, dw, c int) int64 {
	px := h.Pixels()
	sw, sh := int64(h.Width), int64(h.Height)
	channels := int64(3)
	var decoded int64 // bytes a pixel
	switch h.Model {
	case color.GrayModel:
		decoded, channels = 1, 1
	case color.Gray16Model:
		decoded, channels = 2, 1
	case color.YCbCrModel:
		decoded = 3
	case color.RGBA64Model, color.NRGBA64Model:
		decoded = 8
	default: // RGBA, NRGBA, paletted, CMYK
		decoded = 4
	}
	switch {
	case h.Format == "jpeg":
		// tfjpeg: the component planes (a byte a sample: at most 3 a
		// pixel, with 4:4:4, 4 for CMYK; output rows are made one at a
		// time); when progressive, 2 bytes a sample of coefficients.
		planes := channels
		if h.Model == color.CMYKModel {
			planes = 4
		}
		decoded = planes
		if h.Passes {
			decoded += 2 * planes
		}
	case h.Passes:
		decoded *= 2
	}
	rows := 4 * channels * (int64(dh) + 1) * sw // the resize's first pass and one source row
	taps := 16 * 2 * (sw + 2*sh + int64(dh) + int64(dw))
	out := 4 * int64(dh) * int64(dw) * (channels + int64(c))
	return decoded*px + rows + taps + out
}

// decodeBudget is DecodeMemory, shared by every decode of the process.
var decodeBudget = &budget{size: DecodeMemory}

// FromBytes decodes an encoded PNG or JPEG and converts it to an HxWxC
// float32 tensor (row-major HWC) in the given preprocessing mode. The
// header is checked first: an image over maxPixels (<= 0:
// DefaultMaxPixels) is refused with ErrTooLarge before any decoding, and
// the decoding waits for its Cost within DecodeMemory.
func FromBytes(b []byte, h, w, c int, mode string, maxPixels int64) ([]float32, error) {
	return FromBytesAugmented(b, h, w, c, mode, maxPixels, nil)
}

// FromBytesAugmented is FromBytes with aug, when set, applied to the
// resized image in the target's channels, its values still 0..255, before
// the preprocessing (where Keras's augmentation layers work).
func FromBytesAugmented(b []byte, h, w, c int, mode string, maxPixels int64, aug func(x []float32)) ([]float32, error) {
	hd, err := ReadHeader(b)
	if err != nil {
		return nil, err
	}
	if err := hd.Check(maxPixels); err != nil {
		return nil, err
	}
	defer decodeBudget.take(hd.Cost(h, w, c))()
	var img image.Image
	switch {
	case hd.Format == "png":
		img, err = png.Decode(bytes.NewReader(b))
	default:
		// As tf.io.decode_jpeg decodes it, so that an export's
		// serving_bytes sees the pixels the head was trained on; for a
		// 1-channel backbone as decode_jpeg(channels=1) does (a colour
		// JPEG's luma as it is), as the export's DecodeImage does. The
		// rows are made as the resize reads them.
		img, err = tfjpeg.DecodeRows(b, c == 1 && hd.Model != color.CMYKModel)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decode (%v): is it a PNG or JPEG file, and complete?", ErrImage, err)
	}
	if got := img.Bounds(); got.Dx() != hd.Width || got.Dy() != hd.Height {
		return nil, fmt.Errorf("%w: the %s header says %dx%d, the pixels %dx%d", ErrImage, hd.Format, hd.Width, hd.Height, got.Dx(), got.Dy())
	}
	x, err := convert(img, h, w, c, mode, aug)
	if err != nil {
		return nil, fmt.Errorf("%s image: %w", hd.Format, err)
	}
	return x, nil
}

// budget is a weighted semaphore of bytes, first come first served, so
// that a large image is not overtaken forever by small ones.
type budget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiting []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

// take waits until n bytes (at most the whole budget) are free, takes
// them and returns what gives them back.
func (b *budget) take(n int64) (give func()) {
	n = max(min(n, b.size), 0)
	give = func() { b.give(n) }
	b.mu.Lock()
	if len(b.waiting) == 0 && b.used+n <= b.size {
		b.used += n
		b.mu.Unlock()
		return give
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiting = append(b.waiting, w)
	b.mu.Unlock()
	<-w.ready
	return give
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	for len(b.waiting) > 0 && b.used+b.waiting[0].n <= b.size {
		w := b.waiting[0]
		b.waiting = b.waiting[1:]
		b.used += w.n
		close(w.ready)
	}
}
