package head

import (
	"fmt"
	"strings"

	"github.com/graft-ml/graft/internal/util/gemm"
)

// Precision is the arithmetic of the conv head's two GEMMs (the forward
// and the weight gradient); every other operation, the parameters and the
// optimizer state are float32 throughout. The CPU runs fp32 and bf16, a
// GPU (gpu.CUDAOps) all three.
type Precision string

const (
	// PrecisionAuto is the device's default: TF32 on GPUs with tensor
	// cores for it (compute capability 8.0 and newer), else FP32.
	PrecisionAuto Precision = ""
	// PrecisionTF32: inputs rounded to TF32 (10-bit mantissa) on a GPU's
	// tensor cores, float32 sums: PyTorch's default for convolutions.
	PrecisionTF32 Precision = "tf32"
	// PrecisionBF16: inputs rounded to bfloat16 (7-bit mantissa), float32
	// sums: tensor cores, or AVX512_BF16 on a CPU.
	PrecisionBF16 Precision = "bf16"
	// PrecisionFP32: float32 products and sums.
	PrecisionFP32 Precision = "fp32"
)

// ParsePrecision reads a --precision value; "" and "auto" are PrecisionAuto.
func ParsePrecision(s string) (Precision, error) {
	switch p := Precision(strings.ToLower(strings.TrimSpace(s))); p {
	case "auto":
		return PrecisionAuto, nil
	case PrecisionAuto, PrecisionTF32, PrecisionBF16, PrecisionFP32:
		return p, nil
	}
	return "", fmt.Errorf("precision %q: use tf32 (GPUs of compute capability 8.0+, their default), bf16, fp32 (the CPU's default) or auto", s)
}

// NewCPUOpsAt returns the host ops at precision p (auto is fp32), or why
// this CPU or build cannot run it.
func NewCPUOpsAt(p Precision) (*CPUOps, error) {
	p, err := CPUPrecision(p, gemm.BF16Check)
	if err != nil {
		return nil, err
	}
	return &CPUOps{prec: p}, nil
}

// CPUPrecision resolves p on a CPU whose bf16 support bf16Check reports
// (gemm.BF16Check, or a test's): the daemon refuses a job with it before
// queueing, NewCPUOpsAt before training.
func CPUPrecision(p Precision, bf16Check func() error) (Precision, error) {
	if err := winoEnvCheck(winoHeadEnv); err != nil {
		return "", err
	}
	switch p {
	case PrecisionAuto, PrecisionFP32:
		return PrecisionFP32, nil
	case PrecisionBF16:
		if err := bf16Check(); err != nil {
			return "", fmt.Errorf("precision bf16: %w; use fp32 (or auto, the CPU's default)", err)
		}
		return p, nil
	}
	return "", fmt.Errorf("precision %s runs on GPUs only (graft-cuda); on the CPU use fp32 (the default) or bf16", p)
}

// Mode is the precision the ops were opened at (fp32 unless NewCPUOpsAt
// chose bf16); a linear head has no conv and is fp32 throughout.
func (o *CPUOps) Mode() Precision {
	if o.prec == PrecisionAuto {
		return PrecisionFP32
	}
	return o.prec
}
