//go:build amd64 && !purego_noasm

#include "textflag.h"

// func adamAsm(n int, p, grad, m, v *float32, withDecay int, k *adamConsts)
// k holds decay, 1-beta1, 1-beta2, alpha, epsilon as float32.
TEXT ·adamAsm(SB), NOSPLIT, $0-56
	MOVQ         n+0(FP), CX
	MOVQ         p+8(FP), DI
	MOVQ         grad+16(FP), SI
	MOVQ         m+24(FP), R8
	MOVQ         v+32(FP), R9
	MOVQ         withDecay+40(FP), R10
	MOVQ         k+48(FP), AX
	VBROADCASTSS 0(AX), Y10  // decay
	VBROADCASTSS 4(AX), Y11  // 1-beta1
	VBROADCASTSS 8(AX), Y12  // 1-beta2
	VBROADCASTSS 12(AX), Y13 // alpha
	VBROADCASTSS 16(AX), Y14 // epsilon

loop:
	CMPQ    CX, $8
	JLT     done
	VMOVUPS (DI), Y0 // p
	VMOVUPS (SI), Y1 // g
	VMOVUPS (R8), Y2 // m
	VMOVUPS (R9), Y3 // v
	TESTQ   R10, R10
	JZ      nodecay
	VMULPS  Y0, Y10, Y4 // decay*p
	VSUBPS  Y4, Y0, Y0  // p -= decay*p

nodecay:
	VSUBPS  Y2, Y1, Y4  // g - m
	VMULPS  Y11, Y4, Y4 // *(1-beta1)
	VADDPS  Y4, Y2, Y2  // m += ...
	VMULPS  Y1, Y1, Y5  // g*g
	VSUBPS  Y3, Y5, Y5  // g*g - v
	VMULPS  Y12, Y5, Y5 // *(1-beta2)
	VADDPS  Y5, Y3, Y3  // v += ...
	VSQRTPS Y3, Y6
	VADDPS  Y14, Y6, Y6 // sqrt(v) + epsilon
	VMULPS  Y13, Y2, Y7 // alpha*m
	VDIVPS  Y6, Y7, Y7  // alpha*m / (sqrt(v)+epsilon)
	VSUBPS  Y7, Y0, Y0  // p -= ...
	VMOVUPS Y0, (DI)
	VMOVUPS Y2, (R8)
	VMOVUPS Y3, (R9)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, R9
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func reluSumAsm(row, sum *float32, n int)
TEXT ·reluSumAsm(SB), NOSPLIT, $0-24
	MOVQ   row+0(FP), DI
	MOVQ   sum+8(FP), SI
	MOVQ   n+16(FP), CX
	VXORPS Y15, Y15, Y15

reluloop:
	CMPQ    CX, $8
	JLT     reludone
	VMOVUPS (DI), Y0
	VMAXPS  Y0, Y15, Y0 // max(0, x): x when x is NaN, and -0 when x is -0
	VADDPS  Y15, Y0, Y0 // -0 + 0 = +0; every other value unchanged
	VADDPS  (SI), Y0, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, (SI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     reluloop

reludone:
	VZEROUPPER
	RET

// func maskAsm(row, grad *float32, n int)
TEXT ·maskAsm(SB), NOSPLIT, $0-24
	MOVQ   row+0(FP), DI
	MOVQ   grad+8(FP), SI
	MOVQ   n+16(FP), CX
	VXORPS Y15, Y15, Y15

maskloop:
	CMPQ    CX, $8
	JLT     maskdone
	VMOVUPS (DI), Y0
	VCMPPS  $0x1e, Y15, Y0, Y1 // x > 0, ordered: false for NaN and -0
	VANDPS  (SI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     maskloop

maskdone:
	VZEROUPPER
	RET
