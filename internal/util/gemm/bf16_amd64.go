//go:build amd64 && !purego_noasm && !(cgo && openblas)

package gemm

import (
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/cpu"
)

// hostFeatures is this CPU's; x/sys/cpu reports the AVX-512 ones only
// when the OS also saves the ZMM state.
var hostFeatures = CPUFeatures{
	AVX2:       cpu.X86.HasAVX2,
	AVX512F:    cpu.X86.HasAVX512F,
	AVX512BF16: cpu.X86.HasAVX512BF16,
	AMXBF16:    cpu.X86.HasAMXBF16,
	AMXTile:    cpu.X86.HasAMXTile,
}

// bf16Asm: this build has the bf16 kernels (a CPU may still lack them).
const bf16Asm = true

// bf16Kernel is nil on a CPU without AVX512_BF16.
var bf16Kernel = func() func(kp int, a, b *uint32, c *float32, ldc int) {
	if hostFeatures.AVX512BF16 {
		return kernelBF16
	}
	return nil
}()

// amx is the AMX kernel where it runs: the CPU has AMX-BF16 and Linux
// lets this process use the tile data (arch_prctl(ARCH_REQ_XCOMP_PERM,
// XFEATURE_XTILEDATA), asked once for every thread, at the first bf16
// product: a process that never multiplies in bf16 keeps its smaller
// signal frames). GRAFT_BF16=avx512 keeps the AVX512_BF16 kernel, to
// compare. note says why AMX does not run on a CPU that has it.
var amx = sync.OnceValues(amxSetup)

func amxSetup() (func(ks int, a, b *uint32, c *float32, ldc int, cfg *byte), string) {
	if !hostFeatures.AMXBF16 || !hostFeatures.AMXTile || !hostFeatures.AVX512BF16 {
		return nil, ""
	}
	if os.Getenv("GRAFT_BF16") == "avx512" {
		return nil, "GRAFT_BF16=avx512: the AVX512_BF16 kernel, not AMX"
	}
	const archReqXcompPerm, xfeatureXtiledata = 0x1023, 18
	if _, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0); errno != 0 {
		return nil, "the kernel refused AMX tile data to this process (" + errno.Error() + "): the AVX512_BF16 kernel runs"
	}
	return amxBF16, ""
}

// kernelBF16 adds the product of a packed 12-row panel of A and a packed
// 32-column panel of B, kp pairs of k long, to the 12x32 tile of C at c.
//
//go:noescape
func kernelBF16(kp int, a, b *uint32, c *float32, ldc int)

// amxBF16 adds the product of a packed 32-row block of A and a packed
// 32-column panel of B, ks steps of 32 of k, to the 32x32 tile of C at c.
//
//go:noescape
func amxBF16(ks int, a, b *uint32, c *float32, ldc int, cfg *byte)

// toBF16Vec rounds n (a multiple of 16) values; nil without AVX-512.
var toBF16Vec = func() func(dst *uint16, src *float32, n int) {
	if hostFeatures.AVX512F {
		return toBF16AVX512
	}
	return nil
}()

// toBF16AVX512 is ToBF16 of n values, n a multiple of 16.
//
//go:noescape
func toBF16AVX512(dst *uint16, src *float32, n int)
