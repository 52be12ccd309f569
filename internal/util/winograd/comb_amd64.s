//go:build amd64 && !purego_noasm

#include "textflag.h"

// func combAsm(y, x *float32, off *int, coef *float32, ntaps, npix, xstep, ystep, c int)
//
// The Winograd transforms' one kernel (winograd.go's Comb): pixel p
// of npix stores sum_t coef[t] * x[p*xstep + off[t] + ch] at
// y[p*ystep + ch] for ch < c, offsets and steps in bytes, c a multiple of
// 16. 64 channels a step keep four sums in Z0-Z3, so each tap costs one
// broadcast and four FMAs from memory; a remainder of 16-channel steps
// follows. SI, DI: the pixel's x and y; BX: the channel offset; R8: c*4;
// R9: x at the channel block; R13: the offsets; DX: the coefficients.
TEXT ·combAsm(SB), NOSPLIT, $0-72
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ npix+40(FP), R10
	MOVQ xstep+48(FP), R11
	MOVQ ystep+56(FP), R12
	MOVQ c+64(FP), R8
	SHLQ $2, R8

pix:
	TESTQ R10, R10
	JZ    done
	XORQ  BX, BX

ch64:
	LEAQ   256(BX), AX
	CMPQ   AX, R8
	JGT    ch16
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	MOVQ   off+16(FP), R13
	MOVQ   coef+24(FP), DX
	MOVQ   ntaps+32(FP), CX
	LEAQ   (SI)(BX*1), R9

tap64:
	VBROADCASTSS (DX), Z8
	MOVQ         (R13), AX
	ADDQ         R9, AX
	VFMADD231PS  (AX), Z8, Z0
	VFMADD231PS  64(AX), Z8, Z1
	VFMADD231PS  128(AX), Z8, Z2
	VFMADD231PS  192(AX), Z8, Z3
	ADDQ         $8, R13
	ADDQ         $4, DX
	DECQ         CX
	JNZ          tap64

	LEAQ    (DI)(BX*1), AX
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	VMOVUPS Z2, 128(AX)
	VMOVUPS Z3, 192(AX)
	ADDQ    $256, BX
	JMP     ch64

ch16:
	CMPQ   BX, R8
	JGE    next
	VXORPS Z0, Z0, Z0
	MOVQ   off+16(FP), R13
	MOVQ   coef+24(FP), DX
	MOVQ   ntaps+32(FP), CX
	LEAQ   (SI)(BX*1), R9

tap16:
	VBROADCASTSS (DX), Z8
	MOVQ         (R13), AX
	VFMADD231PS  (R9)(AX*1), Z8, Z0
	ADDQ         $8, R13
	ADDQ         $4, DX
	DECQ         CX
	JNZ          tap16

	VMOVUPS Z0, (DI)(BX*1)
	ADDQ    $64, BX
	JMP     ch16

next:
	ADDQ R11, SI
	ADDQ R12, DI
	DECQ R10
	JMP  pix

done:
	VZEROUPPER
	RET
