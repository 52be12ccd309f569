package tfjpeg

import (
	"errors"
	"fmt"
	"image"
	"image/color"
)

// ErrFormat reports a file that is not a valid JPEG; ErrUnsupported a
// valid JPEG that this decoder does not decode (as TensorFlow's libjpeg
// would not, or a kind the package leaves out: see the package doc).
var (
	ErrFormat      = errors.New("tfjpeg: invalid JPEG")
	ErrUnsupported = errors.New("tfjpeg: unsupported JPEG")
)

// maxScans bounds the scans of one image: every scan visits all of its
// blocks, so a few bytes each could otherwise cost seconds apiece.
const maxScans = 1000

// zigzag[i] is the natural (row-major) index of the i-th coefficient in
// zigzag order (T.81 figure A.6).
var zigzag = [64 + 16]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
	// Runs past 63 in corrupt data land here, harmlessly.
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
}

type component struct {
	id, h, v, tq int
	// Size in samples (downsampled) and blocks of the component, and
	// the padded plane's blocks a line (the MCU grid's).
	w, hgt       int
	bw, bh       int
	stride       int // plane bytes a row: padded blocks a line x 8
	plane        []uint8
	coefs        []int16 // progressive only: 64 per padded block
	qt           *[64]int32
	dcTbl, acTbl int
	pred         int32
	seen         bool // a scan has used it: its quantisation table is latched
	q            *[64]uint16
	// bits[k] is the successive-approximation bit position coefficient k
	// (zigzag, k < 10) is known to, -1 before any scan (libjpeg's
	// coef_bits): 0 everywhere once a progressive image is complete.
	bits [10]int
}

type decoder struct {
	data []byte
	pos  int

	width, height int
	comps         []component
	hmax, vmax    int
	mcusX, mcusY  int
	progressive   bool
	sof           bool

	quant   [4]*[64]uint16
	dc, ac  [4]*huffman
	restart int
	jfif    bool
	adobe   bool
	adobeXf int
	eobrun  int
	scans   int
	bits    bitReader
}

// Config reads the image's size and colour model (color.GrayModel,
// color.RGBAModel, or color.CMYKModel for 4 components, which Decode
// converts to RGB) from the header, without decoding any pixel.
func Config(b []byte) (image.Config, error) {
	d := &decoder{data: b}
	if err := d.readHeaders(true); err != nil {
		return image.Config{}, err
	}
	m := color.Model(color.RGBAModel)
	switch len(d.comps) {
	case 1:
		m = color.GrayModel
	case 4:
		m = color.CMYKModel // decoded to RGB all the same
	}
	return image.Config{ColorModel: m, Width: d.width, Height: d.height}, nil
}

// Decode decodes a JPEG as tf.io.decode_jpeg(b, channels=0) does: an
// *image.Gray for one component, an *RGB for three or four (CMYK and
// YCCK converted to RGB as TensorFlow converts them). It allocates what the
// header declares (about 6 bytes a pixel for colour, 2 for gray, twice
// that when progressive): check the size with Config first.
func Decode(b []byte) (image.Image, error) {
	return decode(b, false)
}

// DecodeGray decodes a JPEG as tf.io.decode_jpeg(b, channels=1) does:
// the luma (Y) of a YCbCr JPEG as it is, an RGB one's converted with
// libjpeg's weights (0.299, 0.587, 0.114 in 16-bit fixed point). A CMYK
// or YCCK JPEG is refused with ErrUnsupported, as TensorFlow refuses it.
func DecodeGray(b []byte) (*image.Gray, error) {
	r, err := DecodeRows(b, true)
	if err != nil {
		return nil, err
	}
	return r.output().(*image.Gray), nil
}

func decode(b []byte, gray bool) (image.Image, error) {
	r, err := decodeRows(b, gray)
	if err != nil {
		return nil, err
	}
	return r.output(), nil
}

// DecodeRows decodes a JPEG as Decode does (gray: as DecodeGray does) but
// keeps it as its component planes, making each output row when it is
// read: about 3 bytes a pixel at most (1.5 for 4:2:0, 1 for gray) instead
// of the planes and the whole output.
func DecodeRows(b []byte, gray bool) (*Rows, error) {
	if gray {
		if cfg, err := Config(b); err == nil && cfg.ColorModel == color.CMYKModel {
			return nil, fmt.Errorf("%w: a CMYK JPEG has no gray decoding in TensorFlow (libjpeg has no CMYK to gray): decode it to RGB", ErrUnsupported)
		}
	}
	return decodeRows(b, gray)
}

func decodeRows(b []byte, gray bool) (*Rows, error) {
	d := &decoder{data: b}
	if err := d.readHeaders(false); err != nil {
		return nil, err
	}
	if d.progressive {
		for i := range d.comps {
			if gray && i > 0 && !(len(d.comps) == 3 && d.colorSpaceRGB()) {
				break // libjpeg does not need the chroma for gray
			}
			d.idctPlane(&d.comps[i])
		}
	}
	return d.rows(gray), nil
}

func (d *decoder) u16(p int) int { return int(d.data[p])<<8 | int(d.data[p+1]) }

// readHeaders walks the markers from SOI; with configOnly it stops at the
// frame header, otherwise it decodes every scan up to EOI.
func (d *decoder) readHeaders(configOnly bool) error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != 0xD8 {
		return fmt.Errorf("%w: no SOI marker", ErrFormat)
	}
	d.pos = 2
	for {
		// Find the next marker, skipping fill bytes (and, as libjpeg
		// does with a warning, stray bytes before it).
		for d.pos < len(d.data) && d.data[d.pos] != 0xFF {
			d.pos++
		}
		for d.pos < len(d.data) && d.data[d.pos] == 0xFF {
			d.pos++
		}
		if d.pos >= len(d.data) {
			if !d.sof {
				return fmt.Errorf("%w: no frame header before the end of the data", ErrFormat)
			}
			if configOnly {
				return nil
			}
			// TensorFlow refuses a JPEG cut short (its source manager
			// does not let libjpeg pad it with a fake EOI).
			return fmt.Errorf("%w: truncated: the data ends before the EOI marker (TensorFlow refuses it too)", ErrFormat)
		}
		m := d.data[d.pos]
		d.pos++
		if m == 0xD9 { // EOI
			if !d.sof || d.scans == 0 {
				if configOnly && d.sof {
					return nil
				}
				return fmt.Errorf("%w: EOI before any scan", ErrFormat)
			}
			return nil
		}
		if m >= 0xD0 && m <= 0xD7 || m == 0x01 { // RSTn, TEM: no length
			continue
		}
		if d.pos+2 > len(d.data) {
			return fmt.Errorf("%w: marker %#x cut short", ErrFormat, m)
		}
		n := d.u16(d.pos)
		if n < 2 || d.pos+n > len(d.data) {
			return fmt.Errorf("%w: marker %#x's length %d runs past the data", ErrFormat, m, n)
		}
		seg := d.data[d.pos+2 : d.pos+n]
		d.pos += n
		var err error
		switch {
		case m == 0xC0 || m == 0xC1 || m == 0xC2:
			if d.sof {
				return fmt.Errorf("%w: two frame headers", ErrFormat)
			}
			err = d.readSOF(seg, m == 0xC2)
			if err == nil && configOnly {
				return nil
			}
			if err == nil {
				d.allocate()
			}
		case m == 0xC3 || m >= 0xC5 && m <= 0xC7:
			return fmt.Errorf("%w: lossless or hierarchical JPEG (SOF%d): TensorFlow does not decode it either", ErrUnsupported, m-0xC0)
		case m >= 0xC9 && m <= 0xCF && m != 0xCC:
			return fmt.Errorf("%w: arithmetic-coded JPEG (SOF%d): re-encode it with Huffman coding", ErrUnsupported, m-0xC0)
		case m == 0xC4:
			err = d.readDHT(seg)
		case m == 0xCC:
			return fmt.Errorf("%w: arithmetic-coding conditioning (DAC): re-encode it with Huffman coding", ErrUnsupported)
		case m == 0xDB:
			err = d.readDQT(seg)
		case m == 0xDD:
			if len(seg) != 2 {
				return fmt.Errorf("%w: DRI of length %d", ErrFormat, len(seg))
			}
			d.restart = int(seg[0])<<8 | int(seg[1])
		case m == 0xDA:
			if !d.sof {
				return fmt.Errorf("%w: scan before the frame header", ErrFormat)
			}
			if configOnly {
				return nil
			}
			err = d.readScan(seg)
		case m == 0xE0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.jfif = true
			}
		case m == 0xEE:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.adobe, d.adobeXf = true, int(seg[11])
			}
		case m == 0xDC: // DNL: only meaningful with a zero height, refused at SOF
		}
		if err != nil {
			return err
		}
	}
}

func (d *decoder) readSOF(s []byte, progressive bool) error {
	if len(s) < 6 {
		return fmt.Errorf("%w: frame header too short", ErrFormat)
	}
	if s[0] != 8 {
		return fmt.Errorf("%w: %d-bit samples (only 8-bit JPEG is decoded)", ErrUnsupported, s[0])
	}
	d.height, d.width = int(s[1])<<8|int(s[2]), int(s[3])<<8|int(s[4])
	nc := int(s[5])
	if d.width == 0 || d.height == 0 {
		return fmt.Errorf("%w: empty image (%dx%d; a height set later by DNL is not supported)", ErrFormat, d.width, d.height)
	}
	if len(s) != 6+3*nc || nc == 0 {
		return fmt.Errorf("%w: frame header of %d components has length %d", ErrFormat, nc, len(s))
	}
	if nc != 1 && nc != 3 && nc != 4 {
		return fmt.Errorf("%w: %d colour components: TensorFlow decodes only gray, YCbCr/RGB and CMYK/YCCK JPEGs", ErrUnsupported, nc)
	}
	d.progressive, d.sof = progressive, true
	d.comps = make([]component, nc)
	for i := range d.comps {
		c := &d.comps[i]
		c.id, c.h, c.v, c.tq = int(s[6+3*i]), int(s[7+3*i]>>4), int(s[7+3*i]&15), int(s[8+3*i])
		for k := range c.bits {
			c.bits[k] = -1
		}
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return fmt.Errorf("%w: component %d has sampling %dx%d, table %d", ErrFormat, i, c.h, c.v, c.tq)
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	d.mcusX = ceilDiv(d.width, 8*d.hmax)
	d.mcusY = ceilDiv(d.height, 8*d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return fmt.Errorf("%w: sampling factors %dx%d against %dx%d are not integral ratios (libjpeg refuses them too)", ErrUnsupported, c.h, c.v, d.hmax, d.vmax)
		}
		c.w, c.hgt = ceilDiv(d.width*c.h, d.hmax), ceilDiv(d.height*c.v, d.vmax)
		c.bw, c.bh = ceilDiv(c.w, 8), ceilDiv(c.hgt, 8)
		c.stride = d.mcusX * c.h * 8
	}
	return nil
}

// allocate makes the component planes (and a progressive JPEG's
// coefficients), padded to whole MCUs: the caller has checked the size.
func (d *decoder) allocate() {
	for i := range d.comps {
		c := &d.comps[i]
		c.plane = make([]uint8, c.stride*d.mcusY*c.v*8)
		if d.progressive {
			c.coefs = make([]int16, 64*d.mcusX*c.h*d.mcusY*c.v)
		}
	}
}

func (d *decoder) readDQT(s []byte) error {
	for len(s) > 0 {
		pq, tq := s[0]>>4, s[0]&15
		if tq > 3 || pq > 1 {
			return fmt.Errorf("%w: quantisation table %d of precision %d", ErrFormat, tq, pq)
		}
		n := 64 * (1 + int(pq))
		if len(s) < 1+n {
			return fmt.Errorf("%w: quantisation table cut short", ErrFormat)
		}
		q := new([64]uint16)
		for i := 0; i < 64; i++ {
			if pq == 0 {
				q[zigzag[i]] = uint16(s[1+i])
			} else {
				q[zigzag[i]] = uint16(s[1+2*i])<<8 | uint16(s[2+2*i])
			}
		}
		d.quant[tq] = q
		s = s[1+n:]
	}
	return nil
}

func (d *decoder) readDHT(s []byte) error {
	for len(s) > 0 {
		if len(s) < 17 {
			return fmt.Errorf("%w: Huffman table cut short", ErrFormat)
		}
		tc, th := s[0]>>4, s[0]&15
		if tc > 1 || th > 3 {
			return fmt.Errorf("%w: Huffman table class %d, id %d", ErrFormat, tc, th)
		}
		var counts [17]int
		total := 0
		for l := 1; l <= 16; l++ {
			counts[l] = int(s[l])
			total += counts[l]
		}
		if total > 256 || len(s) < 17+total {
			return fmt.Errorf("%w: Huffman table of %d codes cut short", ErrFormat, total)
		}
		h, err := newHuffman(counts, s[17:17+total])
		if err != nil {
			return err
		}
		if tc == 0 {
			d.dc[th] = h
		} else {
			d.ac[th] = h
		}
		s = s[17+total:]
	}
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
