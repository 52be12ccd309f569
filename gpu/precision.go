package gpu

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/gpu/plan"
	"github.com/graft-ml/graft/head"
)

// Precision is the arithmetic of the conv head's two GEMMs, head's type:
// one parser for the CPU's and the GPU's --precision.
type Precision = head.Precision

// The precisions; see head.Precision. On a GPU, PrecisionAuto is TF32 on
// compute capability 8.0 and newer, FP32 on older ones, and PrecisionFP32
// runs the SIMT kernels, within 1e-4 of the CPU.
const (
	PrecisionAuto = head.PrecisionAuto
	PrecisionTF32 = head.PrecisionTF32
	PrecisionBF16 = head.PrecisionBF16
	PrecisionFP32 = head.PrecisionFP32
)

// ParsePrecision reads a --precision value; "" and "auto" are PrecisionAuto.
func ParsePrecision(s string) (Precision, error) { return head.ParsePrecision(s) }

// resolvePrecision is the precision the ops run at on a GPU of compute
// capability cc ("8.0"): the tensor-core modes need 8.0.
func resolvePrecision(p Precision, cc string) (Precision, error) {
	major, _ := strconv.Atoi(strings.SplitN(cc, ".", 2)[0])
	switch {
	case p == PrecisionAuto && major >= 8:
		return PrecisionTF32, nil
	case p == PrecisionAuto:
		return PrecisionFP32, nil
	case p != PrecisionFP32 && major < 8:
		return "", fmt.Errorf("%w: precision %s needs tensor cores of compute capability 8.0 or newer, this GPU has %s: use --precision fp32", ErrCUDA, p, cc)
	}
	return p, nil
}

// gemmGeom is one family of GEMM kernels' fixed geometry.
type gemmGeom struct {
	plan.Geom
	fwd, wgrad func(*module) kernel
}

// The SIMT kernels (head.cu's TILE_M, TILE_N, TILE_K, THREADS) and the
// tensor-core ones (TC_M, TC_N, TC_K, TC_THREADS).
var (
	simtGeom = gemmGeom{Geom: plan.SIMT, fwd: func(m *module) kernel { return m.convFwd }, wgrad: func(m *module) kernel { return m.convWgrad }}
	tf32Geom = gemmGeom{Geom: plan.TensorCore, fwd: func(m *module) kernel { return m.convFwdTF32 }, wgrad: func(m *module) kernel { return m.convWgradTF32 }}
	bf16Geom = gemmGeom{Geom: plan.TensorCore, fwd: func(m *module) kernel { return m.convFwdBF16 }, wgrad: func(m *module) kernel { return m.convWgradBF16 }}
)

// tensorCoreShape is whether the tensor-core kernels take the spec: each
// 16-long K step must stay inside one filter tap and their 16-byte copies
// need whole rows of 4 floats.
func tensorCoreShape(spec head.Spec) bool {
	return spec.Kind == head.KindConv && spec.Channels%16 == 0 && spec.Filters%4 == 0
}

// geom is the GEMM kernels a conv spec runs on these ops.
func (o *CUDAOps) geom(spec head.Spec) gemmGeom {
	if !tensorCoreShape(spec) {
		return simtGeom
	}
	switch o.prec {
	case PrecisionTF32:
		return tf32Geom
	case PrecisionBF16:
		return bf16Geom
	}
	return simtGeom
}

// Precision is what the conv GEMMs of spec run at on these ops: the ops'
// precision, or FP32 for shapes the tensor-core kernels do not take (C
// not a multiple of 16, or F of 4).
func (o *CUDAOps) Precision(spec head.Spec) Precision {
	if o.geom(spec).KStep == simtGeom.KStep {
		return PrecisionFP32
	}
	return o.prec
}

// ErrorBound is the largest error of one conv GEMM output at precision p
// relative to S, the sum of the absolute values of its terms: with terms
// products summed (and a bias), |got - exact| <= ErrorBound * S. Each
// input is rounded once (unit u: TF32 2^-11, BF16 2^-8, FP32 none), so a
// product is off by at most 2u + u^2 and is exact in float32 (11- or 8-bit
// significands); float32 sums of terms + 2 values (the bias and split-K's
// partial sums) add at most (terms + 2) 2^-23 (one ulp each, so that a
// truncating adder is covered too). scripts/kernel-emu and the GPU tests
// check the tensor-core kernels against it; docs/cuda.md explains it.
func ErrorBound(p Precision, terms int) float64 {
	var u float64
	switch p {
	case PrecisionTF32, PrecisionAuto:
		u = math.Ldexp(1, -11)
	case PrecisionBF16:
		u = math.Ldexp(1, -8)
	}
	return 2*u + u*u + float64(terms+2)*math.Ldexp(1, -23)
}

// Mode is the precision the ops were opened at (PrecisionAuto resolved);
// Precision(spec) says what a given shape runs at.
func (o *CUDAOps) Mode() Precision { return o.prec }
