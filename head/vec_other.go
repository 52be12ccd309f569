//go:build !amd64 || purego_noasm

package head

const hasVecAsm = false

func adamAsm(n int, p, grad, m, v *float32, withDecay int, k *adamConsts) {
	panic("head: adamAsm without the assembly")
}

func reluSumAsm(row, sum *float32, n int) { panic("head: reluSumAsm without the assembly") }

func maskAsm(row, grad *float32, n int) { panic("head: maskAsm without the assembly") }
