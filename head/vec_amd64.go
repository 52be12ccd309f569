//go:build amd64 && !purego_noasm

package head

import "golang.org/x/sys/cpu"

// hasVecAsm is whether this CPU runs the AVX loops of vec_amd64.s. Each
// does the same IEEE operations in the same order as its Go twin (no FMA),
// so results are bit for bit the Go loop's.
var hasVecAsm = cpu.X86.HasAVX

// adamAsm is adamGo eight lanes at a time, for n a multiple of 8. It
// applies the weight decay when withDecay != 0.
//
//go:noescape
func adamAsm(n int, p, grad, m, v *float32, withDecay int, k *adamConsts)

// reluSumAsm sets row[j] = max(row[j], 0) (NaN stays NaN, -0 becomes +0,
// as Go's max) and adds it to sum[j], for j < n, n a multiple of 8.
//
//go:noescape
func reluSumAsm(row, sum *float32, n int)

// maskAsm sets row[j] to grad[j] where row[j] > 0 and to 0 elsewhere (NaN
// and -0 included), for j < n, n a multiple of 8.
//
//go:noescape
func maskAsm(row, grad *float32, n int)
