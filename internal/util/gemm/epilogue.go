package gemm

import (
	"fmt"
	"math"
)

// Epilogue is what a GEMM applies to each value of C as it stores it for
// the last time (the last block of k), while the tile is still in
// registers (the AVX-512 kernel) or in L1 (elsewhere), instead of a pass
// over C after it: with v = alpha*op(A)*op(B) + beta*C as without it,
//
//	C[i,j] = min(max(v + Bias[j] + Res[i*ResStride+j], Lo), Hi)
//
// (bias first, then the residual: TensorFlow's BiasAdd, then AddV2). A
// convolution's bias, residual and ReLU or ReLU6 cost no pass of their
// own. A nil *Epilogue does nothing.
type Epilogue struct {
	Bias      []float32 // n values; nil: none
	Res       []float32 // m x n, row stride ResStride, laid out as C; nil: none
	ResStride int
	Clamp     bool    // clamp to [Lo, Hi]: ReLU is 0, +Inf; ReLU6 0, 6
	Lo, Hi    float32 // with Clamp
}

// kernelEp is an Epilogue as the assembly reads it, for one tile: bias at
// the tile's first column, res at its first value, ldr its row stride in
// values. A missing bias or residual points at zeros (ldr 0), so the
// kernel has one path. Field offsets are the assembly's: keep the order.
type kernelEp struct {
	bias, res *float32
	ldr       int
	lo, hi    float32
}

// zeros stands in for a missing bias or residual row: one tile wide.
var zeros [32]float32

func (e *Epilogue) limits() (lo, hi float32) {
	if e.Clamp {
		return e.Lo, e.Hi
	}
	return float32(math.Inf(-1)), float32(math.Inf(1))
}

// check panics when Bias or Res is too short for an m x n C: a
// programming error inside graft, as checkOperand's.
func (e *Epilogue) check(m, n int) {
	if e == nil {
		return
	}
	if e.Bias != nil && len(e.Bias) < n {
		panic(fmt.Sprintf("gemm: epilogue bias of %d values for %d columns", len(e.Bias), n))
	}
	if e.Res != nil {
		checkOperand("Res", false, m, n, e.Res, e.ResStride)
	}
	if e.Clamp && !(e.Lo <= e.Hi) {
		panic(fmt.Sprintf("gemm: epilogue clamps to [%v, %v]", e.Lo, e.Hi))
	}
}

// shift is e for the part of C that starts at row i, column j, or nil.
func (e *Epilogue) shift(i, j int) *Epilogue {
	if e == nil || (i == 0 && j == 0) {
		return e
	}
	s := *e
	if s.Bias != nil {
		s.Bias = s.Bias[j:]
	}
	if s.Res != nil {
		s.Res = s.Res[i*s.ResStride+j:]
	}
	return &s
}

// tile fills ke for the tile of C whose first value is C[i, j].
func (e *Epilogue) tile(ke *kernelEp, i, j int) {
	ke.bias, ke.res, ke.ldr = &zeros[0], &zeros[0], 0
	if e.Bias != nil {
		ke.bias = &e.Bias[j]
	}
	if e.Res != nil {
		ke.res, ke.ldr = &e.Res[i*e.ResStride+j], e.ResStride
	}
	ke.lo, ke.hi = e.limits()
}

// apply is the epilogue in Go on the mm x nn block of C at c (row stride
// ldc) whose first value is C[i, j]: edge tiles, kernels without it, and
// products that no packed kernel computes.
func (e *Epilogue) apply(c []float32, ldc, i, j, mm, nn int) {
	if e == nil || mm == 0 || nn == 0 {
		return
	}
	if hasEpAsm {
		_ = c[(mm-1)*ldc+nn-1] // the assembly writes up to here
		var ke kernelEp
		for q := 0; q < nn; q += len(zeros) { // zeros covers a missing bias or residual row this wide
			e.tile(&ke, i, j+q)
			epTileAsm(&c[q], ldc, mm, min(len(zeros), nn-q), &ke)
		}
		return
	}
	lo, hi := e.limits()
	for r := range mm {
		row := c[r*ldc : r*ldc+nn]
		if e.Bias != nil {
			for q, b := range e.Bias[j : j+nn] {
				row[q] += b
			}
		}
		if e.Res != nil {
			o := (i+r)*e.ResStride + j
			for q, v := range e.Res[o : o+nn] {
				row[q] += v
			}
		}
		for q, v := range row {
			row[q] = min(max(v, lo), hi)
		}
	}
}
