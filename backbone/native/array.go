package native

import (
	"fmt"
	"math"
	"slices"

	"github.com/graft-ml/graft/backbone/tensor"
)

// Shape-only and data-movement ops. Ops that only change the shape alias
// their input's storage; the others copy through a strided view.

func init() {
	for _, name := range []string{"Identity", "StopGradient", "Snapshot", "PreventGradient"} {
		register(name, 1, 1, simple(
			func(in []tinfo) ([]tinfo, error) { return []tinfo{in[0]}, nil },
			func(in []*tensor.Tensor, _ []tinfo) ([]*tensor.Tensor, error) { return in[:1:1], nil }))
	}
	register("IdentityN", 0, -1, func(c *buildCtx) (*kernel, error) {
		return &kernel{
			nOut:  c.nIn,
			shape: func(in []tinfo) ([]tinfo, error) { return slices.Clone(in), nil },
			run: func(in []*tensor.Tensor, _ []tinfo) ([]*tensor.Tensor, error) {
				return slices.Clone(in), nil
			},
		}, nil
	})
	register("NoOp", 0, 0, func(*buildCtx) (*kernel, error) {
		return &kernel{
			shape: func([]tinfo) ([]tinfo, error) { return nil, nil },
			run:   func([]*tensor.Tensor, []tinfo) ([]*tensor.Tensor, error) { return nil, nil },
		}, nil
	})
	register("Const", 0, 0, buildConst)
	register("Placeholder", 0, 0, buildPlaceholder)
	register("PlaceholderWithDefault", 1, 1, buildPlaceholder)
	register("Shape", 1, 1, func(c *buildCtx) (*kernel, error) {
		return shapeKernel(c, func(s []int) ([]int, []int) { return s, []int{len(s)} })
	})
	register("Size", 1, 1, func(c *buildCtx) (*kernel, error) {
		return shapeKernel(c, func(s []int) ([]int, []int) { return []int{tensor.NumElements(s)}, []int{} })
	})
	register("Rank", 1, 1, func(c *buildCtx) (*kernel, error) {
		c.a = attrs{} // Rank is always int32
		return shapeKernel(c, func(s []int) ([]int, []int) { return []int{len(s)}, []int{} })
	})
	register("Reshape", 2, 2, simple(reshapeShape, aliasRun))
	register("Squeeze", 1, 1, buildSqueeze)
	register("ExpandDims", 2, 2, simple(expandDimsShape, aliasRun))
	register("Transpose", 2, 2, simple(transposeShape, runTranspose))
	register("ConcatV2", 2, -1, func(*buildCtx) (*kernel, error) { return concatKernel(false), nil })
	register("Concat", 2, -1, func(*buildCtx) (*kernel, error) { return concatKernel(true), nil })
	register("Pack", 1, -1, buildPack)
	register("Pad", 2, 2, simple(padShape, runPad))
	register("PadV2", 3, 3, simple(padShape, runPad))
	register("Slice", 3, 3, simple(sliceShape, runSlice))
	register("Fill", 2, 2, simple(fillShape, runFill))
	register("Range", 3, 3, simple(rangeShape, runRange))
	register("Cast", 1, 1, buildCast)
}

// aliasRun returns the first input under the output's dtype and shape.
func aliasRun(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
	return []*tensor.Tensor{shareData(in[0], out[0].dtype, out[0].shape)}, nil
}

func buildConst(c *buildCtx) (*kernel, error) {
	v := c.konst
	if v == nil {
		return nil, fmt.Errorf("%w: Const has no value in Graph.Consts", ErrGraph)
	}
	if err := checkData(v); err != nil {
		return nil, fmt.Errorf("%w: Const value: %v", ErrGraph, err)
	}
	return &kernel{
		nOut: 1,
		shape: func([]tinfo) ([]tinfo, error) {
			return []tinfo{{dtype: v.DType, shape: v.Shape, value: v}}, nil
		},
		run: func([]*tensor.Tensor, []tinfo) ([]*tensor.Tensor, error) { return []*tensor.Tensor{v}, nil },
	}, nil
}

// buildPlaceholder: the engine substitutes feeds for placeholders; only an
// unfed PlaceholderWithDefault runs, passing its default through.
func buildPlaceholder(c *buildCtx) (*kernel, error) {
	want, known := c.a.shape("shape")
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			if len(in) == 0 {
				return nil, fmt.Errorf("%w: placeholder was not fed", ErrFeed)
			}
			if known && !shapeMatches(want, in[0].shape) {
				return nil, fmt.Errorf("%w: default has shape %v, placeholder declares %v", ErrShape, in[0].shape, want)
			}
			return []tinfo{in[0]}, nil
		},
		run: func(in []*tensor.Tensor, _ []tinfo) ([]*tensor.Tensor, error) { return in[:1:1], nil },
	}, nil
}

// shapeKernel builds Shape, Size and Rank: f maps the input shape to the
// output values and output shape.
func shapeKernel(c *buildCtx, f func([]int) (vals, shape []int)) (*kernel, error) {
	dt := c.a.dtype("out_type", tensor.Int32)
	if !isInt(dt) {
		return nil, fmt.Errorf("%w: out_type %s", ErrAttr, dt)
	}
	k := &kernel{nOut: 1, shapeOnly: true}
	k.shape = func(in []tinfo) ([]tinfo, error) {
		v, s := f(in[0].shape)
		return []tinfo{{dtype: dt, shape: s, value: intTensor(dt, v, s...)}}, nil
	}
	k.run = func(_ []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
		return []*tensor.Tensor{out[0].value}, nil
	}
	return k, nil
}

func reshapeShape(in []tinfo) ([]tinfo, error) {
	want, err := ints(in[1], "shape")
	if err != nil {
		return nil, err
	}
	if len(in[1].shape) > 1 {
		return nil, fmt.Errorf("%w: shape argument has shape %v, want a vector", ErrShape, in[1].shape)
	}
	out := slices.Clone(want)
	infer, known := -1, 1
	for i, d := range out {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, fmt.Errorf("%w: reshape target %v has a negative size or more than one -1", ErrValue, want)
		default:
			known *= d
		}
	}
	size := tensor.NumElements(in[0].shape)
	if infer >= 0 {
		if known == 0 || size%known != 0 {
			return nil, fmt.Errorf("%w: cannot reshape %v (%d elements) to %v", ErrShape, in[0].shape, size, want)
		}
		out[infer] = size / known
	} else if known != size {
		return nil, fmt.Errorf("%w: cannot reshape %v (%d elements) to %v (%d elements)", ErrShape, in[0].shape, size, want, known)
	}
	return []tinfo{{dtype: in[0].dtype, shape: out}}, nil
}

func buildSqueeze(c *buildCtx) (*kernel, error) {
	dims := c.a.ints("squeeze_dims", nil)
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			s := in[0].shape
			drop := make([]bool, len(s))
			for _, d := range dims {
				a, err := axis(int(d), len(s), "squeeze dim")
				if err != nil {
					return nil, err
				}
				if s[a] != 1 {
					return nil, fmt.Errorf("%w: cannot squeeze dim %d of %v (size %d, not 1)", ErrShape, a, s, s[a])
				}
				drop[a] = true
			}
			out := []int{}
			for i, d := range s {
				if !drop[i] && !(len(dims) == 0 && d == 1) {
					out = append(out, d)
				}
			}
			return one(in[0].dtype, out), nil
		},
		run: aliasRun,
	}, nil
}

func expandDimsShape(in []tinfo) ([]tinfo, error) {
	d, err := scalarInt(in[1], "dim")
	if err != nil {
		return nil, err
	}
	s := in[0].shape
	if d, err = axis(d, len(s)+1, "dim"); err != nil {
		return nil, err
	}
	return one(in[0].dtype, slices.Insert(slices.Clone(s), d, 1)), nil
}

func transposePerm(in []tinfo) ([]int, error) {
	perm, err := ints(in[1], "perm")
	if err != nil {
		return nil, err
	}
	if len(perm) != len(in[0].shape) {
		return nil, fmt.Errorf("%w: perm %v for rank %d", ErrValue, perm, len(in[0].shape))
	}
	seen := make([]bool, len(perm))
	for i, p := range perm {
		if p, err = axis(p, len(perm), "perm entry"); err != nil {
			return nil, err
		}
		if seen[p] {
			return nil, fmt.Errorf("%w: perm %v is not a permutation", ErrValue, perm)
		}
		seen[p], perm[i] = true, p
	}
	return perm, nil
}

func transposeShape(in []tinfo) ([]tinfo, error) {
	perm, err := transposePerm(in)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(perm))
	for i, p := range perm {
		out[i] = in[0].shape[p]
	}
	return one(in[0].dtype, out), nil
}

func runTranspose(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
	perm, _ := transposePerm([]tinfo{infoOf(in[0]), infoOf(in[1])})
	y := alloc(out[0])
	is := strides(in[0].Shape)
	v := view{counts: out[0].shape, sStr: make([]int, len(perm)), dStr: strides(out[0].shape)}
	for i, p := range perm {
		v.sStr[i] = is[p]
	}
	copyView(y, in[0], v)
	return []*tensor.Tensor{y}, nil
}

// concatKernel builds ConcatV2 (axis last) and Concat (axis first).
func concatKernel(axisFirst bool) *kernel {
	split := func(in []tinfo) (vals []tinfo, ax tinfo) {
		if axisFirst {
			return in[1:], in[0]
		}
		return in[:len(in)-1], in[len(in)-1]
	}
	shape := func(in []tinfo) ([]tinfo, int, error) {
		vals, axt := split(in)
		a, err := scalarInt(axt, "axis")
		if err != nil {
			return nil, 0, err
		}
		first := vals[0]
		if a, err = axis(a, len(first.shape), "axis"); err != nil {
			return nil, 0, err
		}
		out := slices.Clone(first.shape)
		out[a] = 0
		for i, v := range vals {
			if !sameStorage(v.dtype, first.dtype) {
				return nil, 0, fmt.Errorf("%w: input %d is %s, input 0 is %s", ErrDType, i, v.dtype, first.dtype)
			}
			if len(v.shape) != len(out) {
				return nil, 0, fmt.Errorf("%w: input %d has shape %v, input 0 %v", ErrShape, i, v.shape, first.shape)
			}
			for d := range out {
				if d != a && v.shape[d] != out[d] {
					return nil, 0, fmt.Errorf("%w: input %d has shape %v, input 0 %v (only axis %d may differ)", ErrShape, i, v.shape, first.shape, a)
				}
			}
			out[a] += v.shape[a]
		}
		return one(first.dtype, out), a, nil
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			out, _, err := shape(in)
			return out, err
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			infos := make([]tinfo, len(in))
			for i, t := range in {
				infos[i] = infoOf(t)
			}
			_, a, _ := shape(infos)
			vals := in[:len(in)-1]
			if axisFirst {
				vals = in[1:]
			}
			y := alloc(out[0])
			ds := strides(out[0].shape)
			off := 0
			for _, t := range vals {
				copyView(y, t, view{counts: t.Shape, sStr: strides(t.Shape), dStr: ds, dOff: off * ds[a]})
				off += t.Shape[a]
			}
			return []*tensor.Tensor{y}, nil
		},
	}
}

func buildPack(c *buildCtx) (*kernel, error) {
	ax := int(c.a.int("axis", 0))
	resolve := func(in []tinfo) (int, []int, error) {
		first := in[0]
		a, err := axis(ax, len(first.shape)+1, "axis")
		if err != nil {
			return 0, nil, err
		}
		for i, v := range in {
			if !sameStorage(v.dtype, first.dtype) || !sameShape(v.shape, first.shape) {
				return 0, nil, fmt.Errorf("%w: input %d is %s%v, input 0 is %s%v", ErrShape, i, v.dtype, v.shape, first.dtype, first.shape)
			}
		}
		return a, slices.Insert(slices.Clone(first.shape), a, len(in)), nil
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			_, out, err := resolve(in)
			if err != nil {
				return nil, err
			}
			return one(in[0].dtype, out), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			a, _ := axis(ax, in[0].Rank()+1, "axis")
			y := alloc(out[0])
			ds := strides(out[0].shape)
			// Walk each input with the output's strides minus the packed axis.
			dStr := slices.Delete(slices.Clone(ds), a, a+1)
			for i, t := range in {
				copyView(y, t, view{counts: t.Shape, sStr: strides(t.Shape), dStr: dStr, dOff: i * ds[a]})
			}
			return []*tensor.Tensor{y}, nil
		},
	}, nil
}

// paddings reads a [rank, 2] paddings input.
func paddings(in []tinfo) ([]int, error) {
	p, err := ints(in[1], "paddings")
	if err != nil {
		return nil, err
	}
	r := len(in[0].shape)
	if !sameShape(in[1].shape, []int{r, 2}) {
		return nil, fmt.Errorf("%w: paddings have shape %v, want [%d 2]", ErrShape, in[1].shape, r)
	}
	for _, v := range p {
		if v < 0 {
			return nil, fmt.Errorf("%w: negative padding in %v", ErrValue, p)
		}
	}
	return p, nil
}

func padShape(in []tinfo) ([]tinfo, error) {
	p, err := paddings(in)
	if err != nil {
		return nil, err
	}
	if len(in) == 3 && (!sameStorage(in[2].dtype, in[0].dtype) || tensor.NumElements(in[2].shape) != 1) {
		return nil, fmt.Errorf("%w: constant_values is %s%v, want a %s scalar", ErrShape, in[2].dtype, in[2].shape, in[0].dtype)
	}
	out := slices.Clone(in[0].shape)
	for i := range out {
		out[i] += p[2*i] + p[2*i+1]
	}
	return one(in[0].dtype, out), nil
}

func runPad(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
	p, _ := paddings([]tinfo{infoOf(in[0]), infoOf(in[1])})
	y := alloc(out[0])
	if len(in) == 3 {
		fillFrom(y, in[2], 0)
	}
	ds := strides(out[0].shape)
	off := 0
	for i, s := range ds {
		off += p[2*i] * s
	}
	copyView(y, in[0], view{counts: in[0].Shape, sStr: strides(in[0].Shape), dStr: ds, dOff: off})
	return []*tensor.Tensor{y}, nil
}

// sliceBounds reads Slice's begin and size (-1: to the end).
func sliceBounds(in []tinfo) (begin, size []int, err error) {
	if begin, err = ints(in[1], "begin"); err != nil {
		return nil, nil, err
	}
	if size, err = ints(in[2], "size"); err != nil {
		return nil, nil, err
	}
	s := in[0].shape
	if len(begin) != len(s) || len(size) != len(s) {
		return nil, nil, fmt.Errorf("%w: begin %v and size %v for input %v", ErrShape, begin, size, s)
	}
	for i := range s {
		if size[i] == -1 {
			size[i] = s[i] - begin[i]
		}
		if begin[i] < 0 || size[i] < 0 || begin[i]+size[i] > s[i] {
			return nil, nil, fmt.Errorf("%w: slice begin %v size %v out of bounds for %v", ErrValue, begin, size, s)
		}
	}
	return begin, size, nil
}

func sliceShape(in []tinfo) ([]tinfo, error) {
	_, size, err := sliceBounds(in)
	if err != nil {
		return nil, err
	}
	return one(in[0].dtype, size), nil
}

func runSlice(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
	begin, size, _ := sliceBounds([]tinfo{infoOf(in[0]), infoOf(in[1]), infoOf(in[2])})
	y := alloc(out[0])
	ss := strides(in[0].Shape)
	off := 0
	for i, b := range begin {
		off += b * ss[i]
	}
	copyView(y, in[0], view{counts: size, sStr: ss, dStr: strides(size), sOff: off})
	return []*tensor.Tensor{y}, nil
}

func fillShape(in []tinfo) ([]tinfo, error) {
	dims, err := ints(in[0], "dims")
	if err != nil {
		return nil, err
	}
	for _, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("%w: negative dimension in %v", ErrValue, dims)
		}
	}
	if tensor.NumElements(in[1].shape) != 1 || len(in[1].shape) > 0 {
		return nil, fmt.Errorf("%w: value has shape %v, want a scalar", ErrShape, in[1].shape)
	}
	return one(in[1].dtype, dims), nil
}

func runFill(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
	y := alloc(out[0])
	fillFrom(y, in[1], 0)
	return []*tensor.Tensor{y}, nil
}

// rangeSize computes Range's length from start, limit and delta.
func rangeSize(in []tinfo) (start, delta float64, n int, err error) {
	var v [3]float64
	for i, what := range []string{"start", "limit", "delta"} {
		if in[i].value == nil {
			return 0, 0, 0, fmt.Errorf("%w: Range %s is computed at run time, so its length cannot be inferred statically", ErrShape, what)
		}
		if tensor.NumElements(in[i].shape) != 1 || !sameStorage(in[i].dtype, in[0].dtype) {
			return 0, 0, 0, fmt.Errorf("%w: %s is %s%v, want a %s scalar", ErrShape, what, in[i].dtype, in[i].shape, in[0].dtype)
		}
		v[i] = asFloat64(in[i].value, 0)
	}
	start, limit, delta := v[0], v[1], v[2]
	if delta == 0 || (delta > 0 && start > limit) || (delta < 0 && start < limit) {
		return 0, 0, 0, fmt.Errorf("%w: Range(%v, %v, %v) is empty or infinite", ErrValue, start, limit, delta)
	}
	if isInt(in[0].dtype) {
		d := int(math.Abs(delta))
		n = (int(math.Abs(limit-start)) + d - 1) / d
	} else {
		n = int(math.Ceil(math.Abs((limit - start) / delta)))
	}
	return start, delta, n, nil
}

func rangeShape(in []tinfo) ([]tinfo, error) {
	if s := storageOf(in[0].dtype); s != stF32 && s != stF64 && s != stI32 && s != stI64 {
		return nil, fmt.Errorf("%w: Range over %s", ErrDType, in[0].dtype)
	}
	_, _, n, err := rangeSize(in)
	if err != nil {
		return nil, err
	}
	return one(in[0].dtype, []int{n}), nil
}

func runRange(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
	start, delta, n, _ := rangeSize([]tinfo{infoOf(in[0]), infoOf(in[1]), infoOf(in[2])})
	y := alloc(out[0])
	for i := range n {
		v := start + float64(i)*delta
		switch storageOf(y.DType) {
		case stF32:
			y.F32[i] = float32(v)
		case stF64:
			y.F64[i] = v
		case stI32:
			y.I32[i] = int32(v)
		case stI64:
			y.I64[i] = int64(v)
		}
	}
	return []*tensor.Tensor{y}, nil
}

func buildCast(c *buildCtx) (*kernel, error) {
	dst := c.a.dtype("DstT", tensor.Invalid)
	if storageOf(dst) == stNone || storageOf(dst) == stString {
		return nil, fmt.Errorf("%w: Cast to %s", ErrAttr, dst)
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			if s := storageOf(in[0].dtype); s == stNone || s == stString {
				return nil, fmt.Errorf("%w: Cast from %s", ErrDType, in[0].dtype)
			}
			return one(dst, in[0].shape), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			x := in[0]
			if storageOf(x.DType) == storageOf(dst) && dst != tensor.Uint8 && dst != tensor.Int8 && dst != tensor.Int16 {
				return []*tensor.Tensor{shareData(x, dst, x.Shape)}, nil
			}
			y := alloc(out[0])
			switch storageOf(dst) {
			case stF32:
				castTo(y.F32, x)
			case stF64:
				castTo(y.F64, x)
			case stI32:
				castTo(y.I32, x)
				wrapNarrow(y)
			case stI64:
				castTo(y.I64, x)
			case stBool:
				for i := range y.B {
					y.B[i] = asFloat64(x, i) != 0
				}
			}
			return []*tensor.Tensor{y}, nil
		},
	}, nil
}

// castTo converts x's elements into dst; float to int truncates toward
// zero and bool becomes 0/1, as TensorFlow's Cast.
func castTo[D number](dst []D, x *tensor.Tensor) {
	switch storageOf(x.DType) {
	case stF32:
		convert(dst, x.F32)
	case stF64:
		convert(dst, x.F64)
	case stI32:
		convert(dst, x.I32)
	case stI64:
		convert(dst, x.I64)
	case stBool:
		for i, b := range x.B {
			if b {
				dst[i] = 1
			}
		}
	}
}

func convert[D, S number](dst []D, src []S) {
	for i, v := range src {
		dst[i] = D(v)
	}
}

// wrapNarrow wraps values into the range of a narrow integer dtype stored
// as int32 (uint8, int8, int16), as a C cast does.
func wrapNarrow(t *tensor.Tensor) {
	for i, v := range t.I32 {
		switch t.DType {
		case tensor.Uint8:
			t.I32[i] = int32(uint8(v))
		case tensor.Int8:
			t.I32[i] = int32(int8(v))
		case tensor.Int16:
			t.I32[i] = int32(int16(v))
		default:
			return
		}
	}
}
