//go:build amd64 && !purego_noasm && !(cgo && openblas)

package gemm

import "testing"

// BenchmarkKernelPeak runs each micro-kernel on one L1-resident panel pair:
// its peak, in MACs per ns (b.ReportMetric), bf16 against fp32.
func BenchmarkKernelPeak(b *testing.B) {
	const k = 128
	c := make([]float32, 12*32)
	b.Run("fp32-12x32", func(b *testing.B) {
		if len(kernels) == 0 || kernels[0] != avx512 {
			b.Skip("no AVX-512 kernel")
		}
		a, bb := make([]float32, 12*k), make([]float32, 32*k)
		for i := 0; i < b.N; i++ {
			kernel12x32(k, &a[0], &bb[0], &c[0], 32, 1, 0, nil) // add into C, as the bf16 kernel does
		}
		b.ReportMetric(float64(12*32*k)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "MAC/ns")
	})
	b.Run("bf16-12x32", func(b *testing.B) {
		if bf16Kernel == nil {
			b.Skip("no bf16 kernel")
		}
		a, bb := make([]uint32, 12*k/2), make([]uint32, 32*k/2)
		for i := 0; i < b.N; i++ {
			bf16Kernel(k/2, &a[0], &bb[0], &c[0], 32)
		}
		b.ReportMetric(float64(12*32*k)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "MAC/ns")
	})
	b.Run("amx-32x32", func(b *testing.B) {
		amxKernel, _ := amx()
		if amxKernel == nil {
			b.Skip("no AMX")
		}
		c := make([]float32, 32*32)
		a, bb := make([]uint32, 32*k/2), make([]uint32, 32*k/2)
		for i := 0; i < b.N; i++ {
			amxKernel(k/32, &a[0], &bb[0], &c[0], 32, &amxCfg[0])
		}
		b.ReportMetric(float64(32*32*k)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "MAC/ns")
	})
}
