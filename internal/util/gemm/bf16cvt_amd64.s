//go:build amd64 && !purego_noasm && !(cgo && openblas)

#include "textflag.h"

// func toBF16AVX512(dst *uint16, src *float32, n int)
//
// dst[i] = BF16Bits(src[i]) for n a multiple of 16, sixteen at a time:
// (u + 0x7fff + (u>>16 & 1)) >> 16, and (u>>16) | 0x40 where u is a NaN
// (|u| > 0x7f800000), bit for bit what BF16Bits computes.
TEXT ·toBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   done
	MOVL $0x7fff, AX
	VPBROADCASTD AX, Z1
	MOVL $1, AX
	VPBROADCASTD AX, Z2
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z4
	MOVL $0x7f800000, AX
	VPBROADCASTD AX, Z5
	MOVL $0x40, AX
	VPBROADCASTD AX, Z6

loop:
	VMOVDQU32 (SI), Z0
	VPSRLD    $16, Z0, Z3       // u >> 16
	VPANDD    Z4, Z0, Z7        // |u|
	VPCMPUD   $6, Z5, Z7, K1    // NaN: |u| > 0x7f800000
	VPANDD    Z2, Z3, Z8        // (u >> 16) & 1
	VPADDD    Z1, Z0, Z0
	VPADDD    Z8, Z0, Z0
	VPSRLD    $16, Z0, Z0       // rounded
	VPORD     Z6, Z3, K1, Z0    // NaN lanes: (u >> 16) | 0x40
	VPMOVDW   Z0, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       loop
	VZEROUPPER

done:
	RET
