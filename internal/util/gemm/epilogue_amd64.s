//go:build amd64 && !purego_noasm && !(cgo && openblas)

#include "textflag.h"

// func epTileAsm(c *float32, ldc, mm, nn int, ke *kernelEp)
//
// Row by row: C += bias, C += residual, then the clamp, Y14 and Y15 holding
// lo and hi. The value is the second source of VMAXPS and VMINPS, which
// return it when it is NaN, as the kernel's epilogue does. SI walks the
// bias, DX the residual's row (R10 its start, R11 = ldr in bytes), BX C's.
TEXT ·epTileAsm(SB), NOSPLIT, $0-40
	MOVQ         c+0(FP), DI
	MOVQ         ldc+8(FP), R8
	SHLQ         $2, R8
	MOVQ         mm+16(FP), R9
	MOVQ         ke+32(FP), AX
	MOVQ         8(AX), R10
	MOVQ         16(AX), R11
	SHLQ         $2, R11
	VBROADCASTSS 24(AX), Y14
	VBROADCASTSS 28(AX), Y15

row:
	TESTQ R9, R9
	JZ    done
	MOVQ  0(AX), SI
	MOVQ  R10, DX
	MOVQ  DI, BX
	MOVQ  nn+24(FP), CX

loop8:
	CMPQ    CX, $8
	JLT     tail
	VMOVUPS (BX), Y0
	VADDPS  (SI), Y0, Y0
	VADDPS  (DX), Y0, Y0
	VMAXPS  Y0, Y14, Y0
	VMINPS  Y0, Y15, Y0
	VMOVUPS Y0, (BX)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, BX
	SUBQ    $8, CX
	JMP     loop8

tail:
	TESTQ  CX, CX
	JZ     next
	VMOVSS (BX), X0
	VADDSS (SI), X0, X0
	VADDSS (DX), X0, X0
	VMAXSS X0, X14, X0
	VMINSS X0, X15, X0
	VMOVSS X0, (BX)
	ADDQ   $4, SI
	ADDQ   $4, DX
	ADDQ   $4, BX
	DECQ   CX
	JMP    tail

next:
	ADDQ R8, DI
	ADDQ R11, R10
	DECQ R9
	JMP  row

done:
	VZEROUPPER
	RET
