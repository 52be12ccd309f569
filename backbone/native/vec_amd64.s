//go:build amd64 && !purego_noasm

#include "textflag.h"

// func fmaddAsm(dst, x, f *float32, n int)
TEXT ·fmaddAsm(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ f+16(FP), DX
	MOVQ n+24(FP), CX

loop32:
	CMPQ        CX, $32
	JLT         loop8
	VMOVUPS     (SI), Y0
	VMOVUPS     32(SI), Y1
	VMOVUPS     64(SI), Y2
	VMOVUPS     96(SI), Y3
	VMOVUPS     (DI), Y4
	VMOVUPS     32(DI), Y5
	VMOVUPS     64(DI), Y6
	VMOVUPS     96(DI), Y7
	VFMADD231PS (DX), Y0, Y4
	VFMADD231PS 32(DX), Y1, Y5
	VFMADD231PS 64(DX), Y2, Y6
	VFMADD231PS 96(DX), Y3, Y7
	VMOVUPS     Y4, (DI)
	VMOVUPS     Y5, 32(DI)
	VMOVUPS     Y6, 64(DI)
	VMOVUPS     Y7, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	ADDQ        $128, DX
	SUBQ        $32, CX
	JMP         loop32

loop8:
	CMPQ        CX, $8
	JLT         tail
	VMOVUPS     (SI), Y0
	VMOVUPS     (DI), Y4
	VFMADD231PS (DX), Y0, Y4
	VMOVUPS     Y4, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, DX
	SUBQ        $8, CX
	JMP         loop8

tail:
	TESTQ       CX, CX
	JZ          done
	VMOVSS      (SI), X0
	VMOVSS      (DI), X4
	VFMADD231SS (DX), X0, X4
	VMOVSS      X4, (DI)
	ADDQ        $4, SI
	ADDQ        $4, DI
	ADDQ        $4, DX
	DECQ        CX
	JMP         tail

done:
	VZEROUPPER
	RET

// func biasClampAsm(y, bias *float32, rows, o int, lo, hi float32)
//
// Y14 and Y15 hold lo and hi; the value is the second source of VMAXPS and
// VMINPS, which return it when it is NaN.
TEXT ·biasClampAsm(SB), NOSPLIT, $0-40
	MOVQ         y+0(FP), DI
	MOVQ         rows+16(FP), R8
	VBROADCASTSS lo+32(FP), Y14
	VBROADCASTSS hi+36(FP), Y15

row:
	TESTQ R8, R8
	JZ    done
	MOVQ  bias+8(FP), SI
	MOVQ  o+24(FP), CX

loop8:
	CMPQ    CX, $8
	JLT     tail
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMAXPS  Y0, Y14, Y0
	VMINPS  Y0, Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop8

tail:
	TESTQ  CX, CX
	JZ     next
	VMOVSS (DI), X0
	VADDSS (SI), X0, X0
	VMAXSS X0, X14, X0
	VMINSS X0, X15, X0
	VMOVSS X0, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    tail

next:
	DECQ R8
	JMP  row

done:
	VZEROUPPER
	RET

// func sigmoidAsm(y *float32, n int, negBeta float32, mul int, t *[14][8]float32)
//
// y[i] = s (mul == 0) or y[i]*s (mul != 0), s = 1/(1+exp(negBeta*y[i])),
// for n a multiple of 8. exp is Cephes' expf: x = k*ln2 + r with k =
// floor(x*log2e + 1/2) and ln2 in two parts, a degree-5 polynomial for
// exp(r), 2^k built in the exponent bits. t holds the constants, 8 copies
// each: lo, hi, log2e, 1/2, C1, C2, p0..p5, 1, int32 127.
TEXT ·sigmoidAsm(SB), NOSPLIT, $0-40
	MOVQ         y+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS negBeta+16(FP), Y15
	MOVQ         mul+24(FP), DX
	MOVQ         t+32(FP), R8
	VMOVUPS      0(R8), Y14   // lo
	VMOVUPS      32(R8), Y13  // hi
	VMOVUPS      64(R8), Y12  // log2e
	VMOVUPS      96(R8), Y11  // 1/2
	VMOVUPS      384(R8), Y10 // 1

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (DI), Y0
	VMULPS  Y15, Y0, Y1 // x = -beta*v
	VMAXPS  Y1, Y14, Y1 // the value second: NaN stays NaN
	VMINPS  Y1, Y13, Y1
	VMULPS  Y12, Y1, Y2
	VADDPS  Y11, Y2, Y2
	VROUNDPS $1, Y2, Y2 // k = floor(x*log2e + 1/2)
	VFNMADD231PS 128(R8), Y2, Y1 // r = x - k*C1
	VFNMADD231PS 160(R8), Y2, Y1 // r -= k*C2
	VMOVUPS      192(R8), Y3     // p0
	VFMADD213PS  224(R8), Y1, Y3 // p = p*r + p1
	VFMADD213PS  256(R8), Y1, Y3
	VFMADD213PS  288(R8), Y1, Y3
	VFMADD213PS  320(R8), Y1, Y3
	VFMADD213PS  352(R8), Y1, Y3 // ... + p5
	VMULPS       Y1, Y1, Y4      // r*r
	VFMADD213PS  Y1, Y4, Y3      // p*r*r + r
	VADDPS       Y10, Y3, Y3     // + 1: exp(r)
	VCVTPS2DQ    Y2, Y5
	VPADDD       416(R8), Y5, Y5
	VPSLLD       $23, Y5, Y5     // 2^k
	VMULPS       Y5, Y3, Y3      // exp(x)
	VADDPS       Y10, Y3, Y3
	VDIVPS       Y3, Y10, Y3     // 1/(1+exp(x))
	TESTQ        DX, DX
	JZ           store
	VMULPS       Y0, Y3, Y3

store:
	VMOVUPS Y3, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func dwAsm(y, x *float32, off *int, f *float32, ntaps, npix, xstep, c int, bias *float32, lo, hi float32)
//
// The direct depthwise kernel (multiplier 1, c a multiple of 16). Pixel p
// of npix reads its taps at x + p*xstep + off[2t] and the filter at
// f + off[2t+1] (all in bytes), and stores min(max(sum+bias, lo), hi) at
// y + p*c*4. Four pixels at a time share each tap's filter load and keep
// 4x16 sums in Y0-Y7: 8 FMAs against 12 loads and no stores, where
// accumulating into y a tap at a time (fmaddAsm) cost 3 loads and a store
// per FMA. SI, DI: the pixel group's x and y; BX: the channel offset;
// R13: the tap pairs; R9: x at the channel block; R11: xstep; R12: c*4.
TEXT ·dwAsm(SB), NOSPLIT, $0-80
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         npix+40(FP), R10
	MOVQ         xstep+48(FP), R11
	MOVQ         c+56(FP), R12
	SHLQ         $2, R12
	VBROADCASTSS lo+72(FP), Y14
	VBROADCASTSS hi+76(FP), Y15

pix4:
	CMPQ R10, $4
	JLT  pix1
	XORQ BX, BX

ch4:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   off+16(FP), R13
	MOVQ   ntaps+32(FP), CX
	MOVQ   f+24(FP), DX
	ADDQ   BX, DX
	LEAQ   (SI)(BX*1), R9

tap4:
	MOVQ        8(R13), AX
	VMOVUPS     (DX)(AX*1), Y8
	VMOVUPS     32(DX)(AX*1), Y9
	MOVQ        (R13), AX
	ADDQ        R9, AX
	VFMADD231PS (AX), Y8, Y0
	VFMADD231PS 32(AX), Y9, Y1
	VFMADD231PS (AX)(R11*1), Y8, Y2
	VFMADD231PS 32(AX)(R11*1), Y9, Y3
	LEAQ        (AX)(R11*2), AX
	VFMADD231PS (AX), Y8, Y4
	VFMADD231PS 32(AX), Y9, Y5
	VFMADD231PS (AX)(R11*1), Y8, Y6
	VFMADD231PS 32(AX)(R11*1), Y9, Y7
	ADDQ        $16, R13
	DECQ        CX
	JNZ         tap4

	MOVQ    bias+64(FP), AX
	VMOVUPS (AX)(BX*1), Y8
	VMOVUPS 32(AX)(BX*1), Y9
	VADDPS  Y8, Y0, Y0
	VADDPS  Y9, Y1, Y1
	VADDPS  Y8, Y2, Y2
	VADDPS  Y9, Y3, Y3
	VADDPS  Y8, Y4, Y4
	VADDPS  Y9, Y5, Y5
	VADDPS  Y8, Y6, Y6
	VADDPS  Y9, Y7, Y7
	VMAXPS  Y0, Y14, Y0
	VMAXPS  Y1, Y14, Y1
	VMAXPS  Y2, Y14, Y2
	VMAXPS  Y3, Y14, Y3
	VMAXPS  Y4, Y14, Y4
	VMAXPS  Y5, Y14, Y5
	VMAXPS  Y6, Y14, Y6
	VMAXPS  Y7, Y14, Y7
	VMINPS  Y0, Y15, Y0
	VMINPS  Y1, Y15, Y1
	VMINPS  Y2, Y15, Y2
	VMINPS  Y3, Y15, Y3
	VMINPS  Y4, Y15, Y4
	VMINPS  Y5, Y15, Y5
	VMINPS  Y6, Y15, Y6
	VMINPS  Y7, Y15, Y7
	LEAQ    (DI)(BX*1), AX
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 32(AX)
	ADDQ    R12, AX
	VMOVUPS Y2, (AX)
	VMOVUPS Y3, 32(AX)
	ADDQ    R12, AX
	VMOVUPS Y4, (AX)
	VMOVUPS Y5, 32(AX)
	ADDQ    R12, AX
	VMOVUPS Y6, (AX)
	VMOVUPS Y7, 32(AX)
	ADDQ    $64, BX
	CMPQ    BX, R12
	JLT     ch4

	LEAQ (SI)(R11*4), SI
	LEAQ (DI)(R12*4), DI
	SUBQ $4, R10
	JMP  pix4

pix1:
	TESTQ R10, R10
	JZ    dwdone
	XORQ  BX, BX

ch1:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ   off+16(FP), R13
	MOVQ   ntaps+32(FP), CX
	MOVQ   f+24(FP), DX
	ADDQ   BX, DX
	LEAQ   (SI)(BX*1), R9

tap1:
	MOVQ        8(R13), AX
	VMOVUPS     (DX)(AX*1), Y8
	VMOVUPS     32(DX)(AX*1), Y9
	MOVQ        (R13), AX
	VFMADD231PS (R9)(AX*1), Y8, Y0
	VFMADD231PS 32(R9)(AX*1), Y9, Y1
	ADDQ        $16, R13
	DECQ        CX
	JNZ         tap1

	MOVQ    bias+64(FP), AX
	VADDPS  (AX)(BX*1), Y0, Y0
	VADDPS  32(AX)(BX*1), Y1, Y1
	VMAXPS  Y0, Y14, Y0
	VMAXPS  Y1, Y14, Y1
	VMINPS  Y0, Y15, Y0
	VMINPS  Y1, Y15, Y1
	VMOVUPS Y0, (DI)(BX*1)
	VMOVUPS Y1, 32(DI)(BX*1)
	ADDQ    $64, BX
	CMPQ    BX, R12
	JLT     ch1

	ADDQ R11, SI
	ADDQ R12, DI
	DECQ R10
	JMP  pix1

dwdone:
	VZEROUPPER
	RET

// func addMulAsm(dst, a, b *float32, n int, mul int)
//
// dst[i] = a[i]+b[i], or a[i]*b[i] when mul != 0, for n a multiple of 8.
TEXT ·addMulAsm(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ mul+32(FP), AX
	TESTQ AX, AX
	JNZ  mul32

add32:
	CMPQ    CX, $32
	JLT     add8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VADDPS  (DX), Y0, Y0
	VADDPS  32(DX), Y1, Y1
	VADDPS  64(DX), Y2, Y2
	VADDPS  96(DX), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DX
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     add32

add8:
	CMPQ    CX, $8
	JLT     amdone
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     add8

mul32:
	CMPQ    CX, $32
	JLT     mul8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMULPS  (DX), Y0, Y0
	VMULPS  32(DX), Y1, Y1
	VMULPS  64(DX), Y2, Y2
	VMULPS  96(DX), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DX
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     mul32

mul8:
	CMPQ    CX, $8
	JLT     amdone
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     mul8

amdone:
	VZEROUPPER
	RET

// func sigmoid512Asm(y *float32, n int, negBeta float32, mul int, t *[14][8]float32)
//
// sigmoidAsm on AVX-512F, 16 values a step, for n a multiple of 16: the
// same IEEE operations lane for lane (VRNDSCALEPS $1 is VROUNDPS $1's
// floor), so the results are the same bits. The constants are broadcast
// from the first copy of each in t.
TEXT ·sigmoid512Asm(SB), NOSPLIT, $0-40
	MOVQ         y+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS negBeta+16(FP), Z15
	MOVQ         mul+24(FP), DX
	MOVQ         t+32(FP), R8
	VBROADCASTSS 0(R8), Z14   // lo
	VBROADCASTSS 32(R8), Z13  // hi
	VBROADCASTSS 64(R8), Z12  // log2e
	VBROADCASTSS 96(R8), Z11  // 1/2
	VBROADCASTSS 384(R8), Z10 // 1
	VBROADCASTSS 128(R8), Z20 // C1
	VBROADCASTSS 160(R8), Z21 // C2
	VBROADCASTSS 192(R8), Z22 // p0
	VBROADCASTSS 224(R8), Z23 // p1
	VBROADCASTSS 256(R8), Z24 // p2
	VBROADCASTSS 288(R8), Z25 // p3
	VBROADCASTSS 320(R8), Z26 // p4
	VBROADCASTSS 352(R8), Z27 // p5
	VPBROADCASTD 416(R8), Z28 // int32 127

loop512:
	CMPQ CX, $16
	JLT  done512
	VMOVUPS      (DI), Z0
	VMULPS       Z15, Z0, Z1
	VMAXPS       Z1, Z14, Z1
	VMINPS       Z1, Z13, Z1
	VMULPS       Z12, Z1, Z2
	VADDPS       Z11, Z2, Z2
	VRNDSCALEPS  $1, Z2, Z2
	VFNMADD231PS Z20, Z2, Z1
	VFNMADD231PS Z21, Z2, Z1
	VMOVAPS      Z22, Z3
	VFMADD213PS  Z23, Z1, Z3
	VFMADD213PS  Z24, Z1, Z3
	VFMADD213PS  Z25, Z1, Z3
	VFMADD213PS  Z26, Z1, Z3
	VFMADD213PS  Z27, Z1, Z3
	VMULPS       Z1, Z1, Z4
	VFMADD213PS  Z1, Z4, Z3
	VADDPS       Z10, Z3, Z3
	VCVTPS2DQ    Z2, Z5
	VPADDD       Z28, Z5, Z5
	VPSLLD       $23, Z5, Z5
	VMULPS       Z5, Z3, Z3
	VADDPS       Z10, Z3, Z3
	VDIVPS       Z3, Z10, Z3
	TESTQ        DX, DX
	JZ           store512
	VMULPS       Z0, Z3, Z3

store512:
	VMOVUPS Z3, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     loop512

done512:
	VZEROUPPER
	RET

// func dw512Asm(y, x *float32, off *int, f *float32, ntaps, npix, xstep, c int, bias *float32, lo, hi float32)
//
// dwAsm on AVX-512F for c a multiple of 32: 4 pixels x 32 channels in
// Z0-Z7, the same operations lane for lane.
TEXT ·dw512Asm(SB), NOSPLIT, $0-80
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         npix+40(FP), R10
	MOVQ         xstep+48(FP), R11
	MOVQ         c+56(FP), R12
	SHLQ         $2, R12
	VBROADCASTSS lo+72(FP), Z14
	VBROADCASTSS hi+76(FP), Z15

pix4z:
	CMPQ R10, $4
	JLT  pix1z
	XORQ BX, BX

ch4z:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	MOVQ   off+16(FP), R13
	MOVQ   ntaps+32(FP), CX
	MOVQ   f+24(FP), DX
	ADDQ   BX, DX
	LEAQ   (SI)(BX*1), R9

tap4z:
	MOVQ        8(R13), AX
	VMOVUPS     (DX)(AX*1), Z8
	VMOVUPS     64(DX)(AX*1), Z9
	MOVQ        (R13), AX
	ADDQ        R9, AX
	VFMADD231PS (AX), Z8, Z0
	VFMADD231PS 64(AX), Z9, Z1
	VFMADD231PS (AX)(R11*1), Z8, Z2
	VFMADD231PS 64(AX)(R11*1), Z9, Z3
	LEAQ        (AX)(R11*2), AX
	VFMADD231PS (AX), Z8, Z4
	VFMADD231PS 64(AX), Z9, Z5
	VFMADD231PS (AX)(R11*1), Z8, Z6
	VFMADD231PS 64(AX)(R11*1), Z9, Z7
	ADDQ        $16, R13
	DECQ        CX
	JNZ         tap4z

	MOVQ    bias+64(FP), AX
	VMOVUPS (AX)(BX*1), Z8
	VMOVUPS 64(AX)(BX*1), Z9
	VADDPS  Z8, Z0, Z0
	VADDPS  Z9, Z1, Z1
	VADDPS  Z8, Z2, Z2
	VADDPS  Z9, Z3, Z3
	VADDPS  Z8, Z4, Z4
	VADDPS  Z9, Z5, Z5
	VADDPS  Z8, Z6, Z6
	VADDPS  Z9, Z7, Z7
	VMAXPS  Z0, Z14, Z0
	VMAXPS  Z1, Z14, Z1
	VMAXPS  Z2, Z14, Z2
	VMAXPS  Z3, Z14, Z3
	VMAXPS  Z4, Z14, Z4
	VMAXPS  Z5, Z14, Z5
	VMAXPS  Z6, Z14, Z6
	VMAXPS  Z7, Z14, Z7
	VMINPS  Z0, Z15, Z0
	VMINPS  Z1, Z15, Z1
	VMINPS  Z2, Z15, Z2
	VMINPS  Z3, Z15, Z3
	VMINPS  Z4, Z15, Z4
	VMINPS  Z5, Z15, Z5
	VMINPS  Z6, Z15, Z6
	VMINPS  Z7, Z15, Z7
	LEAQ    (DI)(BX*1), AX
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	ADDQ    R12, AX
	VMOVUPS Z2, (AX)
	VMOVUPS Z3, 64(AX)
	ADDQ    R12, AX
	VMOVUPS Z4, (AX)
	VMOVUPS Z5, 64(AX)
	ADDQ    R12, AX
	VMOVUPS Z6, (AX)
	VMOVUPS Z7, 64(AX)
	ADDQ    $128, BX
	CMPQ    BX, R12
	JLT     ch4z

	LEAQ (SI)(R11*4), SI
	LEAQ (DI)(R12*4), DI
	SUBQ $4, R10
	JMP  pix4z

pix1z:
	TESTQ R10, R10
	JZ    dwdonez
	XORQ  BX, BX

ch1z:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	MOVQ   off+16(FP), R13
	MOVQ   ntaps+32(FP), CX
	MOVQ   f+24(FP), DX
	ADDQ   BX, DX
	LEAQ   (SI)(BX*1), R9

tap1z:
	MOVQ        8(R13), AX
	VMOVUPS     (DX)(AX*1), Z8
	VMOVUPS     64(DX)(AX*1), Z9
	MOVQ        (R13), AX
	VFMADD231PS (R9)(AX*1), Z8, Z0
	VFMADD231PS 64(R9)(AX*1), Z9, Z1
	ADDQ        $16, R13
	DECQ        CX
	JNZ         tap1z

	MOVQ    bias+64(FP), AX
	VADDPS  (AX)(BX*1), Z0, Z0
	VADDPS  64(AX)(BX*1), Z1, Z1
	VMAXPS  Z0, Z14, Z0
	VMAXPS  Z1, Z14, Z1
	VMINPS  Z0, Z15, Z0
	VMINPS  Z1, Z15, Z1
	VMOVUPS Z0, (DI)(BX*1)
	VMOVUPS Z1, 64(DI)(BX*1)
	ADDQ    $128, BX
	CMPQ    BX, R12
	JLT     ch1z

	ADDQ R11, SI
	ADDQ R12, DI
	DECQ R10
	JMP  pix1z

dwdonez:
	VZEROUPPER
	RET

// func maxAsm(dst, x *float32, n int)
//
// dst[i] = max(dst[i], x[i]) for n a multiple of 8, NaN where either is:
// VMAXPS returns its second source (dst) when either is NaN, and x's NaN
// lanes are then set to all ones (a NaN) by OR-ing in VCMPPS's unordered
// mask, as Go's max propagates NaN.
TEXT ·maxAsm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX

max16:
	CMPQ    CX, $16
	JLT     max8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (DI), Y2
	VMOVUPS 32(DI), Y3
	VMAXPS  Y2, Y0, Y4
	VMAXPS  Y3, Y1, Y5
	VCMPPS  $3, Y0, Y0, Y6
	VCMPPS  $3, Y1, Y1, Y7
	VORPS   Y6, Y4, Y4
	VORPS   Y7, Y5, Y5
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     max16

max8:
	CMPQ    CX, $8
	JLT     maxdone
	VMOVUPS (SI), Y0
	VMOVUPS (DI), Y2
	VMAXPS  Y2, Y0, Y4
	VCMPPS  $3, Y0, Y0, Y6
	VORPS   Y6, Y4, Y4
	VMOVUPS Y4, (DI)

maxdone:
	VZEROUPPER
	RET
