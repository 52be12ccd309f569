package tfjpeg

import (
	"image"
	"image/color"
)

// RGB is an 8-bit RGB image, 3 bytes a pixel (an *image.RGBA would take
// 4): what Decode returns for a colour JPEG.
type RGB struct {
	Pix    []uint8 // R, G, B of each pixel, rows Stride apart
	Stride int
	Rect   image.Rectangle
}

func (p *RGB) ColorModel() color.Model { return color.RGBAModel }
func (p *RGB) Bounds() image.Rectangle { return p.Rect }
func (p *RGB) At(x, y int) color.Color {
	if !(image.Point{x, y}.In(p.Rect)) {
		return color.RGBA{}
	}
	i := p.PixOffset(x, y)
	return color.RGBA{p.Pix[i], p.Pix[i+1], p.Pix[i+2], 0xff}
}

// PixOffset is the index of pixel (x, y)'s R in Pix.
func (p *RGB) PixOffset(x, y int) int {
	return (y-p.Rect.Min.Y)*p.Stride + (x-p.Rect.Min.X)*3
}

// libjpeg's YCbCr to RGB tables (16 fraction bits): R = Y + 1.40200 Cr',
// G = Y - 0.34414 Cb' - 0.71414 Cr', B = Y + 1.77200 Cb' (Cb' = Cb - 128),
// the R and B terms rounded to integers on their own, the G terms summed
// before one rounding.
const (
	yccBits = 16
	yccHalf = 1 << (yccBits - 1)
)

var crR, cbB, crG, cbG [256]int32

func init() {
	fix := func(x float64) int32 { return int32(x*(1<<yccBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + yccHalf) >> yccBits
		cbB[i] = (fix(1.77200)*x + yccHalf) >> yccBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + yccHalf
	}
}

func clamp255(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// Rows is a decoded JPEG held as its component planes, whose output rows
// (upsampled and colour-converted as libjpeg does) are made on demand: the
// whole RGB image is never held. It is an image.Image (gray or RGB);
// Row is the fast way to read it. Not safe for concurrent use.
type Rows struct {
	d    *decoder
	gray bool // one output channel
	ch   int
	last int     // the row in buf, -1: none
	buf  []uint8 // the last row made
	tmp  [4][]uint8
	sum  []int32
}

func (d *decoder) rows(gray bool) *Rows {
	r := &Rows{d: d, gray: gray || len(d.comps) == 1, last: -1}
	r.ch = 3
	if r.gray {
		r.ch = 1
	}
	w := d.width
	r.buf = make([]uint8, r.ch*w)
	for i := range d.comps {
		r.tmp[i] = make([]uint8, w+16)
		if c := &d.comps[i]; c.h*2 == d.hmax && c.v*2 == d.vmax {
			r.sum = make([]int32, c.w)
		}
	}
	return r
}

func (r *Rows) ColorModel() color.Model {
	if r.gray {
		return color.GrayModel
	}
	return color.RGBAModel
}

func (r *Rows) Bounds() image.Rectangle { return image.Rect(0, 0, r.d.width, r.d.height) }

func (r *Rows) At(x, y int) color.Color {
	if !(image.Point{x, y}.In(r.Bounds())) {
		return color.RGBA{}
	}
	row := r.Row(y)
	if r.gray {
		return color.Gray{row[x]}
	}
	return color.RGBA{row[3*x], row[3*x+1], row[3*x+2], 0xff}
}

// Smoothed says libjpeg would smooth this image's blocks, which this
// package does not do: the pixels may then differ from TensorFlow's. That
// is a progressive JPEG whose scans stop before its first 9 AC
// coefficients are complete (an encoder that leaves refinement scans out,
// a file cut between scans): libjpeg estimates them from the neighbouring
// blocks' DC. Every other JPEG decodes to TensorFlow's bytes.
func (r *Rows) Smoothed() bool { return r.d.smoothed() }

// smoothed is libjpeg's test for block smoothing: progressive, every
// component's DC at least partly known and its DC and first 9 AC
// quantisers non-zero, and some of those AC coefficients not exact.
func (d *decoder) smoothed() bool {
	if !d.progressive {
		return false
	}
	useful := false
	for i := range d.comps {
		c := &d.comps[i]
		if c.q == nil || c.bits[0] < 0 {
			return false
		}
		for k := 0; k < 10; k++ {
			if c.q[zigzag[k]] == 0 {
				return false
			}
			if k > 0 && c.bits[k] != 0 {
				useful = true
			}
		}
	}
	return useful
}

// Channels is 1 (gray) or 3 (RGB): the bytes a pixel of Row.
func (r *Rows) Channels() int { return r.ch }

// Row returns output row y (0 at the top): Channels() bytes a pixel,
// valid until the next call.
func (r *Rows) Row(y int) []uint8 {
	if y == r.last {
		return r.buf
	}
	r.last = y
	d, w, out := r.d, r.d.width, r.buf
	if len(d.comps) == 1 {
		// A lone component's sampling factors mean nothing (the
		// frame's maxima are its own): its plane is the image.
		c := &d.comps[0]
		copy(out, c.plane[y*c.stride:y*c.stride+w])
		return out
	}
	rgb := len(d.comps) == 3 && d.colorSpaceRGB()
	if r.gray && len(d.comps) == 3 && !rgb {
		// YCbCr to gray is Y, upsampled if it is not the fullest.
		d.upsampleRow(&d.comps[0], y, r.tmp[0], r.sum)
		copy(out, r.tmp[0][:w])
		return out
	}
	for i := range d.comps {
		d.upsampleRow(&d.comps[i], y, r.tmp[i], r.sum)
	}
	r0, r1, r2 := r.tmp[0][:w], r.tmp[1][:w], r.tmp[2][:w]
	switch {
	case r.gray: // libjpeg's RGB to gray, in 16-bit fixed point
		for x := 0; x < w; x++ {
			out[x] = uint8((19595*int32(r0[x]) + 38470*int32(r1[x]) + 7471*int32(r2[x]) + yccHalf) >> yccBits)
		}
	case rgb:
		for x := 0; x < w; x++ {
			out[3*x], out[3*x+1], out[3*x+2] = r0[x], r1[x], r2[x]
		}
	case len(d.comps) == 4:
		d.cmykRow(out, r0, r1, r2, r.tmp[3][:w], d.adobe && d.adobeXf != 0)
	default:
		for x := 0; x < w; x++ {
			yy, cb, cr := int32(r0[x]), r1[x], r2[x]
			out[3*x] = clamp255(yy + crR[cr])
			out[3*x+1] = clamp255(yy + (cbG[cb]+crG[cr])>>yccBits)
			out[3*x+2] = clamp255(yy + cbB[cb])
		}
	}
	return out
}

// output makes every row of r: an *image.Gray or an *RGB.
func (r *Rows) output() image.Image {
	w, h := r.d.width, r.d.height
	if r.gray {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			copy(img.Pix[y*img.Stride:], r.Row(y))
		}
		return img
	}
	img := &RGB{Pix: make([]uint8, 3*w*h), Stride: 3 * w, Rect: image.Rect(0, 0, w, h)}
	for y := 0; y < h; y++ {
		copy(img.Pix[y*img.Stride:], r.Row(y))
	}
	return img
}

// cmykRow converts a row of 4 components to RGB as TensorFlow does: libjpeg
// turns YCCK into CMYK (C = 255 - R of the YCbCr conversion, M and Y
// likewise, K as it is) and hands CMYK over; TensorFlow then takes an
// Adobe file's (inverted) CMYK as R = K*C/255, others as
// R = (255-K)(255-C)/255, G and B likewise, in integer division.
func (d *decoder) cmykRow(out, c0, c1, c2, k []uint8, ycck bool) {
	for x := range k {
		c, m, yy := int32(c0[x]), int32(c1[x]), int32(c2[x])
		if ycck {
			l, cb, cr := c, c1[x], c2[x]
			c = int32(clamp255(255 - (l + crR[cr])))
			m = int32(clamp255(255 - (l + (cbG[cb]+crG[cr])>>yccBits)))
			yy = int32(clamp255(255 - (l + cbB[cb])))
		}
		kk := int32(k[x])
		if d.adobe {
			out[3*x], out[3*x+1], out[3*x+2] = uint8(kk*c/255), uint8(kk*m/255), uint8(kk*yy/255)
		} else {
			out[3*x], out[3*x+1], out[3*x+2] = uint8((255-kk)*(255-c)/255), uint8((255-kk)*(255-m)/255), uint8((255-kk)*(255-yy)/255)
		}
	}
}

// colorSpaceRGB guesses, as libjpeg does for three components, whether
// they are RGB rather than YCbCr: a JFIF marker says YCbCr, else an Adobe
// marker's transform 0 says RGB, else component ids 'R', 'G', 'B' do.
func (d *decoder) colorSpaceRGB() bool {
	switch {
	case d.jfif:
		return false
	case d.adobe:
		return d.adobeXf == 0
	}
	return d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B'
}

// upsampleRow writes output row y of component c, upsampled to the
// image's width, into dst. The fancy (triangle) filters are libjpeg's:
// each output sample weighs the nearer input 3/4 and the farther 1/4 in
// each upsampled direction, with alternating rounding biases; edges
// replicate the last real sample (row or column).
func (d *decoder) upsampleRow(c *component, y int, dst []uint8, colsum []int32) {
	hr, vr := d.hmax/c.h, d.vmax/c.v
	w := d.width
	switch {
	case hr == 1 && vr == 1:
		copy(dst[:w], c.plane[y*c.stride:])
	case hr == 2 && vr == 1 && c.w > 2:
		in := c.plane[y*c.stride : y*c.stride+c.w]
		n := c.w
		dst = dst[:2*n]
		// The edges: the missing neighbour is the sample itself.
		dst[0], dst[1] = in[0], uint8((3*int32(in[0])+int32(in[1])+2)>>2)
		for i := 1; i < n-1; i++ {
			v := 3 * int32(in[i])
			dst[2*i] = uint8((v + int32(in[i-1]) + 1) >> 2)
			dst[2*i+1] = uint8((v + int32(in[i+1]) + 2) >> 2)
		}
		dst[2*n-2], dst[2*n-1] = uint8((3*int32(in[n-1])+int32(in[n-2])+1)>>2), in[n-1]
	case hr == 2 && vr == 2 && c.w > 2:
		iy := y / 2
		oy := iy + 1
		if y%2 == 0 {
			oy = iy - 1
		}
		oy = min(max(oy, 0), c.hgt-1)
		in0 := c.plane[iy*c.stride : iy*c.stride+c.w]
		in1 := c.plane[oy*c.stride : oy*c.stride+c.w]
		n := c.w
		for i := 0; i < n; i++ {
			colsum[i] = 3*int32(in0[i]) + int32(in1[i])
		}
		cs := colsum[:n]
		dst = dst[:2*n]
		// The edges: the missing neighbour is the column itself.
		dst[0], dst[1] = uint8((4*cs[0]+8)>>4), uint8((3*cs[0]+cs[1]+7)>>4)
		for i := 1; i < n-1; i++ {
			v := 3 * cs[i]
			dst[2*i] = uint8((v + cs[i-1] + 8) >> 4)
			dst[2*i+1] = uint8((v + cs[i+1] + 7) >> 4)
		}
		dst[2*n-2], dst[2*n-1] = uint8((3*cs[n-1]+cs[n-2]+8)>>4), uint8((4*cs[n-1]+7)>>4)
	case hr == 1 && vr == 2:
		iy := y / 2
		oy, bias := iy+1, int32(2)
		if y%2 == 0 {
			oy, bias = iy-1, 1
		}
		oy = min(max(oy, 0), c.hgt-1)
		in0 := c.plane[iy*c.stride : iy*c.stride+w]
		in1 := c.plane[oy*c.stride : oy*c.stride+w]
		for i := 0; i < w; i++ {
			dst[i] = uint8((3*int32(in0[i]) + int32(in1[i]) + bias) >> 2)
		}
	default: // box: replicate each sample hr x vr times
		in := c.plane[(y/vr)*c.stride:]
		for x := 0; x < w; x++ {
			dst[x] = in[x/hr]
		}
	}
}
