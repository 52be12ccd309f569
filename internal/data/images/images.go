package images

import (
	"errors"
	"fmt"
	"image"
	"image/color"

	"github.com/graft-ml/graft/internal/base/confine"
	"github.com/graft-ml/graft/internal/data/images/tfjpeg"
)

// ErrImage reports an image graft cannot use, with the reason.
var ErrImage = errors.New("images: unusable image")

// Preprocessing modes, as in the Keras applications.
const (
	Raw   = "raw"   // pixel values 0..255
	Unit  = "unit"  // x/255, in [0, 1]
	TF    = "tf"    // x/127.5 - 1, in [-1, 1] (MobileNet, Inception)
	Torch = "torch" // x/255, minus ImageNet mean, over std, RGB (DenseNet)
	Caffe = "caffe" // BGR, minus ImageNet mean in 0..255 (VGG, ResNet50)
)

// Modes lists the preprocessing modes for help texts and validation.
var Modes = []string{Raw, Unit, TF, Torch, Caffe}

// MaxFileBytes caps one encoded image file (the formats have no bound).
const MaxFileBytes = 256 << 20

// Load reads (a regular file of at most MaxFileBytes: never a FIFO or a
// device), decodes and converts one file as FromBytes does; errors name
// the path.
func Load(path string, h, w, c int, mode string, maxPixels int64) ([]float32, error) {
	b, err := (*confine.Roots)(nil).ReadFile(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	x, err := FromBytes(b, h, w, c, mode, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, nil
}

// Convert resizes img to h x w, adapts it to c channels (1 or 3) and
// preprocesses it.
func Convert(img image.Image, h, w, c int, mode string) ([]float32, error) {
	return convert(img, h, w, c, mode, nil)
}

// convert is Convert with aug, when set, applied before the preprocessing.
func convert(img image.Image, h, w, c int, mode string, aug func(x []float32)) ([]float32, error) {
	if h < 1 || w < 1 || (c != 1 && c != 3) {
		return nil, fmt.Errorf("%w: target %dx%dx%d: the backbone's input must be HxWx1 or HxWx3", ErrImage, h, w, c)
	}
	if err := CheckMode(mode); err != nil {
		return nil, err
	}
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return nil, fmt.Errorf("%w: size %dx%d: an image needs at least 1x1 pixels", ErrImage, b.Dx(), b.Dy())
	}
	srcC := 3
	if isGray(img) {
		srcC = 1
	}
	// The pixels go to the resize a row at a time: a float copy of a
	// whole 40 M pixel photograph would be 480 MB.
	x, err := resizeRows(func(y int, row []float32) error { return pixelRow(img, y, row) }, b.Dy(), b.Dx(), srcC, h, w)
	if err != nil {
		return nil, err
	}
	x = adaptChannels(x, srcC, c)
	if aug != nil {
		aug(x)
	}
	Preprocess(x, c, mode)
	return x, nil
}

// CheckMode validates a preprocessing mode name.
func CheckMode(mode string) error {
	for _, m := range Modes {
		if m == mode {
			return nil
		}
	}
	return fmt.Errorf("%w: preprocessing %q: use one of %v", ErrImage, mode, Modes)
}

// isGray says whether img is read as one channel (gray) or three.
func isGray(img image.Image) bool {
	m := img.ColorModel()
	return m == color.GrayModel || m == color.Gray16Model
}

// pixelRow writes row y (from the top) of img as 0..255 floats into row:
// one channel for gray images, three otherwise. Transparent pixels are
// refused: there is no right colour to put under them, and the user
// knows their data best.
func pixelRow(img image.Image, y int, row []float32) error {
	b := img.Bounds()
	y += b.Min.Y
	switch p := img.(type) { // the decoders' own types, without At
	case *image.Gray:
		src := p.Pix[p.PixOffset(b.Min.X, y):][:b.Dx()]
		for i, v := range src {
			row[i] = float32(v)
		}
		return nil
	case *tfjpeg.Rows:
		for i, v := range p.Row(y) {
			row[i] = float32(v)
		}
		return nil
	}
	if isGray(img) {
		for x := b.Min.X; x < b.Max.X; x++ {
			g, _, _, _ := img.At(x, y).RGBA()
			row[x-b.Min.X] = float32(g) / 257
		}
		return nil
	}
	for x := b.Min.X; x < b.Max.X; x++ {
		r, g, bl, a := img.At(x, y).RGBA()
		if a != 0xffff {
			return fmt.Errorf("%w: pixel (%d,%d) is transparent (alpha %d/255): flatten the image onto a background first", ErrImage, x, y, a/257)
		}
		i := 3 * (x - b.Min.X)
		row[i], row[i+1], row[i+2] = float32(r)/257, float32(g)/257, float32(bl)/257
	}
	return nil
}

// adaptChannels converts between gray and RGB: gray is replicated, RGB is
// reduced with TensorFlow's rgb_to_grayscale weights.
func adaptChannels(x []float32, from, to int) []float32 {
	if from == to {
		return x
	}
	n := len(x) / from
	out := make([]float32, n*to)
	for i := 0; i < n; i++ {
		if from == 1 {
			out[3*i], out[3*i+1], out[3*i+2] = x[i], x[i], x[i]
		} else {
			out[i] = 0.2989*x[3*i] + 0.5870*x[3*i+1] + 0.1140*x[3*i+2]
		}
	}
	return out
}

// ImageNet statistics of the Keras applications, RGB order.
var (
	torchMean = [3]float32{0.485, 0.456, 0.406}
	torchStd  = [3]float32{0.229, 0.224, 0.225}
	caffeMean = [3]float32{123.68, 116.779, 103.939}
)

// Preprocess applies mode in place to raw pixels (0..255, HWC or NHWC)
// with c channels. Gray inputs use the mean of the three channel
// statistics.
func Preprocess(x []float32, c int, mode string) {
	stat := func(v [3]float32, ch int) float32 {
		if c == 1 {
			return (v[0] + v[1] + v[2]) / 3
		}
		return v[ch]
	}
	for i := 0; i < len(x); i += c {
		px := x[i : i+c]
		switch mode {
		case Unit:
			for j := range px {
				px[j] /= 255
			}
		case TF:
			for j := range px {
				px[j] = px[j]/127.5 - 1
			}
		case Torch:
			for j := range px {
				px[j] = (px[j]/255 - stat(torchMean, j)) / stat(torchStd, j)
			}
		case Caffe:
			for j := range px {
				px[j] -= stat(caffeMean, j)
			}
			if c == 3 {
				px[0], px[2] = px[2], px[0]
			}
		}
	}
}
