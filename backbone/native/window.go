package native

import "fmt"

// window is the sliding-window geometry shared by Conv2D,
// DepthwiseConv2dNative, MaxPool and AvgPool (NHWC, spatial dims only).
type window struct {
	sh, sw int // strides
	dh, dw int // dilations
	mode   string
	// explicit padding (top, bottom, left, right) for mode EXPLICIT
	explicit [4]int
}

// parseWindow reads strides, dilations (if allowed), padding and
// explicit_paddings, rejecting non-NHWC layouts.
func parseWindow(a attrs, dilations bool) (window, error) {
	var w window
	var err error
	if err = a.nhwc(); err != nil {
		return w, err
	}
	if w.sh, w.sw, err = a.spatial("strides", true); err != nil {
		return w, err
	}
	w.dh, w.dw = 1, 1
	if dilations {
		if w.dh, w.dw, err = a.spatial("dilations", false); err != nil {
			return w, err
		}
	}
	w.mode = a.str("padding", "")
	switch w.mode {
	case "SAME", "VALID":
	case "EXPLICIT":
		p := a.ints("explicit_paddings", nil)
		if len(p) != 8 || p[0] != 0 || p[1] != 0 || p[6] != 0 || p[7] != 0 {
			return w, fmt.Errorf("%w: explicit_paddings %v (want 8 values, zero for batch and channels)", ErrAttr, p)
		}
		for i := range 4 {
			if p[2+i] < 0 {
				return w, fmt.Errorf("%w: negative explicit padding %v", ErrAttr, p)
			}
			w.explicit[i] = int(p[2+i])
		}
	default:
		return w, fmt.Errorf("%w: padding %q (want SAME, VALID or EXPLICIT)", ErrAttr, w.mode)
	}
	return w, nil
}

// dim computes one spatial output size and its leading padding, as
// TensorFlow's GetWindowedOutputSize: SAME pads ceil(in/stride) outputs with
// the odd pixel after (bottom/right), VALID pads nothing.
func (w window) dim(in, k, stride, dil, before, after int) (out, pad int, err error) {
	ek := (k-1)*dil + 1
	switch w.mode {
	case "SAME":
		out = (in + stride - 1) / stride
		need := max((out-1)*stride+ek-in, 0)
		return out, need / 2, nil
	case "VALID":
		before, after = 0, 0
	}
	span := in + before + after - ek
	if span < 0 {
		return 0, 0, fmt.Errorf("%w: window of %d (kernel %d, dilation %d) is larger than the padded input %d", ErrShape, ek, k, dil, in+before+after)
	}
	return span/stride + 1, before, nil
}

// geom is a resolved window over a concrete NHWC input.
type geom struct {
	n, h, w, c int
	kh, kw     int
	oh, ow     int
	pt, pl     int // top and left padding
	window
}

func (w window) resolve(x []int, kh, kw int) (geom, error) {
	if len(x) != 4 {
		return geom{}, fmt.Errorf("%w: input has shape %v, want rank 4 (NHWC)", ErrShape, x)
	}
	g := geom{n: x[0], h: x[1], w: x[2], c: x[3], kh: kh, kw: kw, window: w}
	var err error
	if g.oh, g.pt, err = w.dim(g.h, kh, w.sh, w.dh, w.explicit[0], w.explicit[1]); err != nil {
		return g, fmt.Errorf("height: %w", err)
	}
	if g.ow, g.pl, err = w.dim(g.w, kw, w.sw, w.dw, w.explicit[2], w.explicit[3]); err != nil {
		return g, fmt.Errorf("width: %w", err)
	}
	return g, nil
}

// rows is the number of output rows (n, oy) the kernels split across workers.
func (g geom) rows() int { return g.n * g.oh }

// span returns, for output coordinate o along one axis, the first input
// coordinate of the window and the range of kernel taps [k0, k1) that land
// inside the input.
func span(o, stride, pad, dil, k, in int) (start, k0, k1 int) {
	start = o*stride - pad
	k0, k1 = 0, k
	for k0 < k && start+k0*dil < 0 {
		k0++
	}
	for k1 > k0 && start+(k1-1)*dil >= in {
		k1--
	}
	return start, k0, k1
}
