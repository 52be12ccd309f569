//go:build amd64 && !purego_noasm

package gemm

import "golang.org/x/sys/cpu"

// hostFeatures is this CPU's; x/sys/cpu reports the AVX-512 ones only
// when the OS also saves the ZMM state.
var hostFeatures = CPUFeatures{
	AVX2:       cpu.X86.HasAVX2,
	AVX512F:    cpu.X86.HasAVX512F,
	AVX512BF16: cpu.X86.HasAVX512BF16,
	AMXBF16:    cpu.X86.HasAMXBF16,
	AMXTile:    cpu.X86.HasAMXTile,
}

// bf16Kernel is nil on a CPU without AVX512_BF16.
var bf16Kernel = func() func(kp int, a, b *uint32, c *float32, ldc int) {
	if hostFeatures.AVX512BF16 {
		return kernelBF16
	}
	return nil
}()

// kernelBF16 adds the product of a packed 12-row panel of A and a packed
// 32-column panel of B, kp pairs of k long, to the 12x32 tile of C at c.
//
//go:noescape
func kernelBF16(kp int, a, b *uint32, c *float32, ldc int)
