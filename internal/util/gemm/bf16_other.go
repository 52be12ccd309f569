//go:build !amd64 || purego_noasm || (cgo && openblas)

package gemm

var hostFeatures CPUFeatures

// bf16Asm: this build has no bf16 kernel.
const bf16Asm = false

// bf16Kernel: this build has none.
var (
	bf16Kernel func(kp int, a, b *uint32, c *float32, ldc int)
	toBF16Vec  func(dst *uint16, src *float32, n int)
)

// amx: nor AMX.
func amx() (func(ks int, a, b *uint32, c *float32, ldc int, cfg *byte), string) { return nil, "" }
