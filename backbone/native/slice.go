package native

import (
	"fmt"

	"github.com/graft-ml/graft/backbone/tensor"
)

func init() {
	register("StridedSlice", 4, 4, buildStridedSlice)
}

// stridedSlice holds StridedSlice's masks; bit i refers to entry i of the
// begin/end/strides vectors (the "sparse" spec).
type stridedSlice struct {
	beginMask, endMask, ellipsisMask, newAxisMask, shrinkMask int64
}

// sliceWalk is a resolved slice: per input dim the first index, the step
// and the count taken, plus the output shape after new and shrunk axes.
type sliceWalk struct {
	start, step, count []int
	out                []int
}

const (
	gatherNewAxis = -1
	gatherShrink  = -2
)

func buildStridedSlice(c *buildCtx) (*kernel, error) {
	s := stridedSlice{
		beginMask: c.a.int("begin_mask", 0), endMask: c.a.int("end_mask", 0),
		ellipsisMask: c.a.int("ellipsis_mask", 0), newAxisMask: c.a.int("new_axis_mask", 0),
		shrinkMask: c.a.int("shrink_axis_mask", 0),
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			w, err := s.resolve(in)
			if err != nil {
				return nil, err
			}
			return one(in[0].dtype, w.out), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			w, err := s.resolve([]tinfo{infoOf(in[0]), infoOf(in[1]), infoOf(in[2]), infoOf(in[3])})
			if err != nil {
				return nil, err
			}
			y := alloc(out[0])
			is := strides(in[0].Shape)
			v := view{counts: w.count, sStr: make([]int, len(is)), dStr: strides(w.count)}
			for k := range is {
				v.sStr[k] = is[k] * w.step[k]
				v.sOff += w.start[k] * is[k]
			}
			copyView(y, in[0], v)
			return []*tensor.Tensor{y}, nil
		},
	}, nil
}

// resolve follows TensorFlow's StridedSlice semantics: the sparse spec is
// expanded to one entry per input dim (an ellipsis, explicit or implied at
// the end, covers the dims no entry names; new axes consume none), then
// each dim's bounds are clamped and counted.
func (s stridedSlice) resolve(in []tinfo) (sliceWalk, error) {
	var spec [3][]int
	for i, what := range []string{"begin", "end", "strides"} {
		v, err := ints(in[i+1], what)
		if err != nil {
			return sliceWalk{}, err
		}
		spec[i] = v
	}
	begin, end, stride := spec[0], spec[1], spec[2]
	n := len(begin)
	if len(end) != n || len(stride) != n {
		return sliceWalk{}, fmt.Errorf("%w: begin, end and strides have lengths %d, %d, %d", ErrShape, n, len(end), len(stride))
	}
	bit := func(mask int64, i int) bool { return mask&(1<<uint(i)) != 0 }
	ellipsis, ellipsisAt := s.ellipsisMask, -1
	for i := range n {
		if bit(ellipsis, i) {
			if ellipsisAt >= 0 {
				return sliceWalk{}, fmt.Errorf("%w: more than one ellipsis in ellipsis_mask %b", ErrAttr, s.ellipsisMask)
			}
			ellipsisAt = i
		}
	}
	sparse := n
	if ellipsisAt < 0 {
		ellipsis |= 1 << uint(n)
		ellipsisAt, sparse = n, n+1
	}
	newAfter := 0
	for i := ellipsisAt + 1; i < n; i++ {
		if bit(s.newAxisMask, i) {
			newAfter++
		}
	}

	shape := in[0].shape
	rank := len(shape)
	w := sliceWalk{start: make([]int, rank), step: make([]int, rank), count: make([]int, rank)}
	var gather []int
	full := 0
	for i := 0; i < sparse; i++ {
		switch {
		case bit(ellipsis, i):
			next := min(rank-(sparse-i)+1+newAfter, rank)
			for ; full < next; full++ {
				w.start[full], w.step[full], w.count[full] = 0, 1, shape[full]
				gather = append(gather, full)
			}
		case bit(s.newAxisMask, i):
			gather = append(gather, gatherNewAxis)
		default:
			if full >= rank {
				return sliceWalk{}, fmt.Errorf("%w: slice has more index entries than input %v has dims", ErrShape, shape)
			}
			d, st := shape[full], stride[i]
			if st == 0 {
				return sliceWalk{}, fmt.Errorf("%w: stride 0 at index %d", ErrValue, i)
			}
			if bit(s.shrinkMask, i) {
				b := begin[i]
				if b < 0 {
					b += d
				}
				if b < 0 || b >= d || st < 0 {
					return sliceWalk{}, fmt.Errorf("%w: index %d out of range for dim %d of size %d", ErrValue, begin[i], full, d)
				}
				w.start[full], w.step[full], w.count[full] = b, 1, 1
				gather = append(gather, gatherShrink)
				full++
				continue
			}
			lo, hi := 0, d
			if st < 0 {
				lo, hi = -1, d-1
			}
			canon := func(x int, masked, isBegin bool) int {
				if masked {
					if (st > 0) == isBegin {
						return lo
					}
					return hi
				}
				if x < 0 {
					x += d
				}
				return min(max(x, lo), hi)
			}
			b, e := canon(begin[i], bit(s.beginMask, i), true), canon(end[i], bit(s.endMask, i), false)
			cnt := 0
			if st > 0 && e > b {
				cnt = (e - b + st - 1) / st
			} else if st < 0 && b > e {
				cnt = (b - e - st - 1) / -st
			}
			w.start[full], w.step[full], w.count[full] = b, st, cnt
			gather = append(gather, full)
			full++
		}
	}
	for ; full < rank; full++ { // dims no entry reached are taken whole
		w.start[full], w.step[full], w.count[full] = 0, 1, shape[full]
		gather = append(gather, full)
	}
	w.out = []int{}
	for _, g := range gather {
		switch g {
		case gatherNewAxis:
			w.out = append(w.out, 1)
		case gatherShrink:
		default:
			w.out = append(w.out, w.count[g])
		}
	}
	return w, nil
}
