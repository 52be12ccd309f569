package native

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/parallel"
)

// number is the element types arithmetic runs on.
type number interface {
	~float32 | ~float64 | ~int32 | ~int64
}

// binOp selects the arithmetic of a broadcasting binary op.
type binOp int

const (
	opAdd binOp = iota
	opSub
	opMul
	opDiv // RealDiv/Div: truncating for integers, as TensorFlow
	opFloorDiv
	opMax
	opMin
	opSquaredDiff
	opPow
)

func init() {
	for name, op := range map[string]binOp{
		"Add": opAdd, "AddV2": opAdd, "Sub": opSub, "Mul": opMul,
		"RealDiv": opDiv, "Div": opDiv, "FloorDiv": opFloorDiv,
		"Maximum": opMax, "Minimum": opMin,
		"SquaredDifference": opSquaredDiff, "Pow": opPow,
	} {
		register(name, 2, 2, simple(
			func(in []tinfo) ([]tinfo, error) { return binaryShape(op, in[0], in[1]) },
			func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
				y, err := binary(op, in[0], in[1], out[0])
				return []*tensor.Tensor{y}, err
			}))
	}
	register("AddN", 1, -1, simple(addNShape, runAddN))
}

func addNShape(in []tinfo) ([]tinfo, error) {
	for i, t := range in {
		if !sameStorage(t.dtype, in[0].dtype) || !sameShape(t.shape, in[0].shape) {
			return nil, fmt.Errorf("%w: input %d is %s%v, input 0 is %s%v", ErrShape, i, t.dtype, t.shape, in[0].dtype, in[0].shape)
		}
	}
	return binaryShape(opAdd, in[0], in[0])
}

// runAddN sums its inputs pairwise; AddN is rare in inference graphs, so
// the temporaries are not worth a fused loop.
func runAddN(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
	acc := in[0]
	for _, t := range in[1:] {
		var err error
		if acc, err = binary(opAdd, acc, t, out[0]); err != nil {
			return nil, err
		}
	}
	if len(in) == 1 {
		acc = shareData(acc, out[0].dtype, out[0].shape)
	}
	return []*tensor.Tensor{acc}, nil
}

// broadcastShape applies numpy broadcasting to two shapes.
func broadcastShape(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range r {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("%w: cannot broadcast %v with %v (dim %d: %d vs %d)", ErrShape, a, b, i, da, db)
		}
	}
	return out, nil
}

func binaryShape(op binOp, a, b tinfo) ([]tinfo, error) {
	if !sameStorage(a.dtype, b.dtype) {
		return nil, fmt.Errorf("%w: operands are %s and %s", ErrDType, a.dtype, b.dtype)
	}
	if s := storageOf(a.dtype); s == stBool || s == stString || s == stNone {
		return nil, fmt.Errorf("%w: arithmetic on %s", ErrDType, a.dtype)
	}
	if op == opPow && !isFloat(a.dtype) {
		return nil, fmt.Errorf("%w: Pow on %s (float only)", ErrDType, a.dtype)
	}
	out, err := broadcastShape(a.shape, b.shape)
	if err != nil {
		return nil, err
	}
	return one(a.dtype, out), nil
}

// bcastPlan walks the output in rows: outer dims by index arithmetic, and
// one contiguous inner run where each operand steps by 1 or stays (0).
type bcastPlan struct {
	counts, aStr, bStr []int // outer dims
	inner, sa, sb      int
}

// planBroadcast builds the walk for out = a (op) b after dropping unit dims
// and merging dims that are contiguous for both operands.
func planBroadcast(out, a, b []int) bcastPlan {
	r := len(out)
	opStrides := func(s []int) []int {
		padded := make([]int, r)
		for i := range padded {
			padded[i] = 1
		}
		copy(padded[r-len(s):], s)
		st := strides(padded)
		for i := range st {
			if padded[i] == 1 {
				st[i] = 0
			}
		}
		return st
	}
	as, bs := opStrides(a), opStrides(b)
	var c, sa, sb []int
	for i := range r {
		if out[i] == 1 {
			continue
		}
		if k := len(c) - 1; k >= 0 && sa[k] == as[i]*out[i] && sb[k] == bs[i]*out[i] {
			c[k] *= out[i]
			sa[k], sb[k] = as[i], bs[i]
			continue
		}
		c, sa, sb = append(c, out[i]), append(sa, as[i]), append(sb, bs[i])
	}
	if len(c) == 0 {
		return bcastPlan{inner: 1}
	}
	l := len(c) - 1
	return bcastPlan{counts: c[:l], aStr: sa[:l], bStr: sb[:l], inner: c[l], sa: sa[l], sb: sb[l]}
}

// binary computes a (op) b into a new tensor described by out.
func binary(op binOp, a, b *tensor.Tensor, out tinfo) (*tensor.Tensor, error) {
	y := allocRaw(out) // binApply writes every value
	if y.Len() == 0 {
		return y, nil
	}
	p := planBroadcast(out.shape, a.Shape, b.Shape)
	switch storageOf(a.DType) {
	case stF32:
		loop := binLoop[float32]
		if hasVec && (op == opAdd || op == opMul) {
			loop = addMulF32
		}
		binApply(op, y.F32, a.F32, b.F32, p, loop)
	case stF64:
		binApply(op, y.F64, a.F64, b.F64, p, binLoop[float64])
	case stI32:
		if err := checkDivisor(op, b.I32); err != nil {
			return nil, err
		}
		binApply(op, y.I32, a.I32, b.I32, p, binLoop[int32])
	case stI64:
		if err := checkDivisor(op, b.I64); err != nil {
			return nil, err
		}
		binApply(op, y.I64, a.I64, b.I64, p, binLoop[int64])
	}
	return y, nil
}

// checkDivisor rejects integer division by zero, which would panic.
func checkDivisor[T int32 | int64](op binOp, b []T) error {
	if op != opDiv && op != opFloorDiv {
		return nil
	}
	for _, v := range b {
		if v == 0 {
			return fmt.Errorf("%w: integer division by zero", ErrValue)
		}
	}
	return nil
}

// binApply runs loop (binLoop, or a faster one for its type and op) over
// the rows of the broadcast plan p.
func binApply[T number](op binOp, dst, a, b []T, p bcastPlan, loop func(op binOp, dst, a, b []T, sa, sb int)) {
	rows := 1
	for _, c := range p.counts {
		rows *= c
	}
	if rows == 1 {
		parallel.For(p.inner, parallel.Grain(1), func(lo, hi int) {
			loop(op, dst[lo:hi], a[lo*p.sa:], b[lo*p.sb:], p.sa, p.sb)
		})
		return
	}
	parallel.For(rows, parallel.Grain(p.inner), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ao, bo, rem := 0, 0, r
			for k := len(p.counts) - 1; k >= 0; k-- {
				i := rem % p.counts[k]
				rem /= p.counts[k]
				ao += i * p.aStr[k]
				bo += i * p.bStr[k]
			}
			d := r * p.inner
			loop(op, dst[d:d+p.inner], a[ao:], b[bo:], p.sa, p.sb)
		}
	})
}

// addMulF32 is binLoop for float32 opAdd and opMul on the vector loop when
// neither operand is broadcast within the row (the squeeze-and-excitation
// scale is one such row per pixel: x[n,y,x,:] * s[n,:]).
func addMulF32(op binOp, dst, a, b []float32, sa, sb int) {
	n := 0
	if hasVec && sa == 1 && sb == 1 {
		n = len(dst) / 8 * 8
		mul := 0
		if op == opMul {
			mul = 1
		}
		if n > 0 {
			_, _ = a[n-1], b[n-1] // bounds, before the assembly reads them
			addMulAsm(&dst[0], &a[0], &b[0], n, mul)
		}
	}
	binLoop(op, dst[n:], a[n*sa:], b[n*sb:], sa, sb)
}

// binLoop is the inner loop: dst[i] = a[i*sa] (op) b[i*sb], sa, sb in {0, 1}.
func binLoop[T number](op binOp, dst, a, b []T, sa, sb int) {
	switch op {
	case opAdd:
		for i := range dst {
			dst[i] = a[i*sa] + b[i*sb]
		}
	case opSub:
		for i := range dst {
			dst[i] = a[i*sa] - b[i*sb]
		}
	case opMul:
		for i := range dst {
			dst[i] = a[i*sa] * b[i*sb]
		}
	case opDiv:
		for i := range dst {
			dst[i] = a[i*sa] / b[i*sb]
		}
	case opFloorDiv:
		for i := range dst {
			dst[i] = T(math.Floor(float64(a[i*sa]) / float64(b[i*sb])))
		}
	case opMax:
		for i := range dst {
			dst[i] = max(a[i*sa], b[i*sb])
		}
	case opMin:
		for i := range dst {
			dst[i] = min(a[i*sa], b[i*sb])
		}
	case opSquaredDiff:
		for i := range dst {
			d := a[i*sa] - b[i*sb]
			dst[i] = d * d
		}
	case opPow:
		for i := range dst {
			dst[i] = T(math.Pow(float64(a[i*sa]), float64(b[i*sb])))
		}
	}
}
