//go:build amd64 && !purego_noasm && !(cgo && openblas)

#include "textflag.h"

// STORE256 does C[row] += alpha * tile[row] for one row at DI, alpha in
// Y15; SET256 stores alpha * tile[row] without reading C (the first block
// of k when the caller's C holds no values yet: set != 0).
#define STORE256(acc0, acc1) \
	VFMADD213PS (DI), Y15, acc0; \
	VFMADD213PS 32(DI), Y15, acc1; \
	VMOVUPS     acc0, (DI); \
	VMOVUPS     acc1, 32(DI); \
	ADDQ        R8, DI

#define SET256(acc0, acc1) \
	VMULPS  Y15, acc0, acc0; \
	VMULPS  Y15, acc1, acc1; \
	VMOVUPS acc0, (DI); \
	VMOVUPS acc1, 32(DI); \
	ADDQ    R8, DI

#define STOREALL256 \
	STORE256(Y0, Y1); \
	STORE256(Y2, Y3); \
	STORE256(Y4, Y5); \
	STORE256(Y6, Y7); \
	STORE256(Y8, Y9); \
	STORE256(Y10, Y11)

#define SETALL256 \
	SET256(Y0, Y1); \
	SET256(Y2, Y3); \
	SET256(Y4, Y5); \
	SET256(Y6, Y7); \
	SET256(Y8, Y9); \
	SET256(Y10, Y11)

// func kernel6x16(k int, a, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)
//
// Y0-Y11 hold the 6x16 tile (two registers a row), Y12-Y13 a row of the B
// panel, Y14 a broadcast value of the A panel. Each step of k is 12 FMAs.
TEXT ·kernel6x16(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

loop:
	VMOVUPS      (DX), Y12
	VMOVUPS      32(DX), Y13
	VBROADCASTSS (SI), Y14
	VFMADD231PS  Y12, Y14, Y0
	VFMADD231PS  Y13, Y14, Y1
	VBROADCASTSS 4(SI), Y14
	VFMADD231PS  Y12, Y14, Y2
	VFMADD231PS  Y13, Y14, Y3
	VBROADCASTSS 8(SI), Y14
	VFMADD231PS  Y12, Y14, Y4
	VFMADD231PS  Y13, Y14, Y5
	VBROADCASTSS 12(SI), Y14
	VFMADD231PS  Y12, Y14, Y6
	VFMADD231PS  Y13, Y14, Y7
	VBROADCASTSS 16(SI), Y14
	VFMADD231PS  Y12, Y14, Y8
	VFMADD231PS  Y13, Y14, Y9
	VBROADCASTSS 20(SI), Y14
	VFMADD231PS  Y12, Y14, Y10
	VFMADD231PS  Y13, Y14, Y11
	ADDQ         $24, SI
	ADDQ         $64, DX
	DECQ         CX
	JNZ          loop

	VBROADCASTSS alpha+40(FP), Y15
	CMPQ         set+48(FP), $0
	JNE          set256
	STOREALL256
	VZEROUPPER
	RET

set256:
	SETALL256
	VZEROUPPER
	RET

// func kernel6x16s(k int, a *float32, lda int, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)
//
// kernel6x16 reading A unpacked: six rows of row-major A, lda apart, each
// read left to right. SI walks rows 0-2 and R10 rows 3-5, with R9 = lda.
TEXT ·kernel6x16s(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), DX
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	LEAQ (SI)(R9*2), R10
	ADDQ R9, R10

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

loops:
	VMOVUPS      (DX), Y12
	VMOVUPS      32(DX), Y13
	VBROADCASTSS (SI), Y14
	VFMADD231PS  Y12, Y14, Y0
	VFMADD231PS  Y13, Y14, Y1
	VBROADCASTSS (SI)(R9*1), Y14
	VFMADD231PS  Y12, Y14, Y2
	VFMADD231PS  Y13, Y14, Y3
	VBROADCASTSS (SI)(R9*2), Y14
	VFMADD231PS  Y12, Y14, Y4
	VFMADD231PS  Y13, Y14, Y5
	VBROADCASTSS (R10), Y14
	VFMADD231PS  Y12, Y14, Y6
	VFMADD231PS  Y13, Y14, Y7
	VBROADCASTSS (R10)(R9*1), Y14
	VFMADD231PS  Y12, Y14, Y8
	VFMADD231PS  Y13, Y14, Y9
	VBROADCASTSS (R10)(R9*2), Y14
	VFMADD231PS  Y12, Y14, Y10
	VFMADD231PS  Y13, Y14, Y11
	ADDQ         $4, SI
	ADDQ         $4, R10
	ADDQ         $64, DX
	DECQ         CX
	JNZ          loops

	// C += alpha * tile, one row (two registers) at a time.
	VBROADCASTSS alpha+48(FP), Y15
	CMPQ         set+56(FP), $0
	JNE          sets256
	STOREALL256
	VZEROUPPER
	RET

sets256:
	SETALL256
	VZEROUPPER
	RET

// The AVX-512F kernels hold a 12x32 tile of C in Z0-Z23 (two registers a
// row), a row of the B panel in Z24-Z25 and broadcast values of A in
// Z26-Z29, rotating so consecutive rows do not wait on one register. Each
// step of k is 24 FMAs against 14 loads: the two FMA ports, not the loads,
// set the pace. 12 rows rather than 14 keep the unpacked variant's twelve
// row addresses expressible as four bases times lda*{0,1,2}.
#define ROW512(src, bc, acc0, acc1) \
	VBROADCASTSS src, bc; \
	VFMADD231PS  Z24, bc, acc0; \
	VFMADD231PS  Z25, bc, acc1

#define ZERO512 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23

// STORE512 does C[row] += alpha * tile[row] for one row at DI, alpha in Z30.
#define STORE512(acc0, acc1) \
	VFMADD213PS (DI), Z30, acc0; \
	VFMADD213PS 64(DI), Z30, acc1; \
	VMOVUPS     acc0, (DI); \
	VMOVUPS     acc1, 64(DI); \
	ADDQ        R8, DI

// SET512 is SET256 on a ZMM row, alpha in Z30.
#define SET512(acc0, acc1) \
	VMULPS  Z30, acc0, acc0; \
	VMULPS  Z30, acc1, acc1; \
	VMOVUPS acc0, (DI); \
	VMOVUPS acc1, 64(DI); \
	ADDQ    R8, DI

#define SETALL512 \
	SET512(Z0, Z1); \
	SET512(Z2, Z3); \
	SET512(Z4, Z5); \
	SET512(Z6, Z7); \
	SET512(Z8, Z9); \
	SET512(Z10, Z11); \
	SET512(Z12, Z13); \
	SET512(Z14, Z15); \
	SET512(Z16, Z17); \
	SET512(Z18, Z19); \
	SET512(Z20, Z21); \
	SET512(Z22, Z23)

#define STOREALL512 \
	STORE512(Z0, Z1); \
	STORE512(Z2, Z3); \
	STORE512(Z4, Z5); \
	STORE512(Z6, Z7); \
	STORE512(Z8, Z9); \
	STORE512(Z10, Z11); \
	STORE512(Z12, Z13); \
	STORE512(Z14, Z15); \
	STORE512(Z16, Z17); \
	STORE512(Z18, Z19); \
	STORE512(Z20, Z21); \
	STORE512(Z22, Z23)

// The epilogue (ep != nil: kernelEp's bias, res, ldr, lo, hi at 0, 8, 16,
// 24, 28) on the tile in registers: Z24-Z25 hold the tile's 32 biases
// (free once the loop is done), Z26-Z27 lo and hi broadcast, R13 walks
// the residual's rows, BX = ldr in bytes (0 when there is none: R13 then
// stays on a row of zeros). The value is the second source of VMAXPS and
// VMINPS, which return it when it is NaN, as biasClampAsm does.
#define EPLOAD512(epArg) \
	MOVQ         epArg, AX; \
	MOVQ         0(AX), R13; \
	VMOVUPS      (R13), Z24; \
	VMOVUPS      64(R13), Z25; \
	VBROADCASTSS 24(AX), Z26; \
	VBROADCASTSS 28(AX), Z27; \
	MOVQ         8(AX), R13; \
	MOVQ         16(AX), BX; \
	SHLQ         $2, BX

#define EPFIN512(acc0, acc1) \
	VADDPS  Z24, acc0, acc0; \
	VADDPS  Z25, acc1, acc1; \
	VADDPS  (R13), acc0, acc0; \
	VADDPS  64(R13), acc1, acc1; \
	VMAXPS  acc0, Z26, acc0; \
	VMAXPS  acc1, Z26, acc1; \
	VMINPS  acc0, Z27, acc0; \
	VMINPS  acc1, Z27, acc1; \
	VMOVUPS acc0, (DI); \
	VMOVUPS acc1, 64(DI); \
	ADDQ    R8, DI; \
	ADDQ    BX, R13

// EPSET512 is SET512 with the epilogue, EPADD512 STORE512 with it.
#define EPSET512(acc0, acc1) \
	VMULPS Z30, acc0, acc0; \
	VMULPS Z30, acc1, acc1; \
	EPFIN512(acc0, acc1)

#define EPADD512(acc0, acc1) \
	VFMADD213PS (DI), Z30, acc0; \
	VFMADD213PS 64(DI), Z30, acc1; \
	EPFIN512(acc0, acc1)

#define EPSETALL512 \
	EPSET512(Z0, Z1); \
	EPSET512(Z2, Z3); \
	EPSET512(Z4, Z5); \
	EPSET512(Z6, Z7); \
	EPSET512(Z8, Z9); \
	EPSET512(Z10, Z11); \
	EPSET512(Z12, Z13); \
	EPSET512(Z14, Z15); \
	EPSET512(Z16, Z17); \
	EPSET512(Z18, Z19); \
	EPSET512(Z20, Z21); \
	EPSET512(Z22, Z23)

#define EPADDALL512 \
	EPADD512(Z0, Z1); \
	EPADD512(Z2, Z3); \
	EPADD512(Z4, Z5); \
	EPADD512(Z6, Z7); \
	EPADD512(Z8, Z9); \
	EPADD512(Z10, Z11); \
	EPADD512(Z12, Z13); \
	EPADD512(Z14, Z15); \
	EPADD512(Z16, Z17); \
	EPADD512(Z18, Z19); \
	EPADD512(Z20, Z21); \
	EPADD512(Z22, Z23)

// func kernel12x32(k int, a, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)
TEXT ·kernel12x32(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	ZERO512

loop512:
	VMOVUPS (DX), Z24
	VMOVUPS 64(DX), Z25
	ROW512(0(SI), Z26, Z0, Z1)
	ROW512(4(SI), Z27, Z2, Z3)
	ROW512(8(SI), Z28, Z4, Z5)
	ROW512(12(SI), Z29, Z6, Z7)
	ROW512(16(SI), Z26, Z8, Z9)
	ROW512(20(SI), Z27, Z10, Z11)
	ROW512(24(SI), Z28, Z12, Z13)
	ROW512(28(SI), Z29, Z14, Z15)
	ROW512(32(SI), Z26, Z16, Z17)
	ROW512(36(SI), Z27, Z18, Z19)
	ROW512(40(SI), Z28, Z20, Z21)
	ROW512(44(SI), Z29, Z22, Z23)
	ADDQ $48, SI
	ADDQ $128, DX
	DECQ CX
	JNZ  loop512

	VBROADCASTSS alpha+40(FP), Z30
	CMPQ         ep+56(FP), $0
	JNE          epi512
	CMPQ         set+48(FP), $0
	JNE          set512
	STOREALL512
	VZEROUPPER
	RET

set512:
	SETALL512
	VZEROUPPER
	RET

epi512:
	EPLOAD512(ep+56(FP))
	CMPQ set+48(FP), $0
	JNE  episet512
	EPADDALL512
	VZEROUPPER
	RET

episet512:
	EPSETALL512
	VZEROUPPER
	RET

// STEPS512 is one step of k of kernel12x32s, ending with CX decremented.
#define STEPS512 \
	VMOVUPS (DX), Z24; \
	VMOVUPS 64(DX), Z25; \
	ROW512((SI), Z26, Z0, Z1); \
	ROW512((SI)(R9*1), Z27, Z2, Z3); \
	ROW512((SI)(R9*2), Z28, Z4, Z5); \
	ROW512((R10), Z29, Z6, Z7); \
	ROW512((R10)(R9*1), Z26, Z8, Z9); \
	ROW512((R10)(R9*2), Z27, Z10, Z11); \
	ROW512((R11), Z28, Z12, Z13); \
	ROW512((R11)(R9*1), Z29, Z14, Z15); \
	ROW512((R11)(R9*2), Z26, Z16, Z17); \
	ROW512((R12), Z27, Z18, Z19); \
	ROW512((R12)(R9*1), Z28, Z20, Z21); \
	ROW512((R12)(R9*2), Z29, Z22, Z23); \
	ADDQ $4, SI; \
	ADDQ $4, R10; \
	ADDQ $4, R11; \
	ADDQ $4, R12; \
	ADDQ $128, DX; \
	DECQ CX

// func kernel12x32s(k int, a *float32, lda int, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)
//
// kernel12x32 reading A unpacked: SI, R10, R11 and R12 point at rows 0, 3,
// 6 and 9, each base with offsets 0, lda and 2*lda (R9 = lda in bytes).
TEXT ·kernel12x32s(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), DX
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	LEAQ (SI)(R9*2), R10
	ADDQ R9, R10
	LEAQ (R10)(R9*2), R11
	ADDQ R9, R11
	LEAQ (R11)(R9*2), R12
	ADDQ R9, R12
	ZERO512

	TESTQ $2, set+56(FP)
	JNZ   prefetch512

loops512:
	STEPS512
	JNZ loops512
	JMP stores512

	// Bit 2 of set: fetch the next B panel (k*128 bytes on) into L2 a
	// step at a time while this one is used, for a product with few rows
	// whose every panel of B comes from memory at its first use.
prefetch512:
	MOVQ CX, R13
	SHLQ $7, R13

loopps512:
	PREFETCHT1 (DX)(R13*1)
	PREFETCHT1 64(DX)(R13*1)
	STEPS512
	JNZ        loopps512

stores512:
	VBROADCASTSS alpha+48(FP), Z30
	CMPQ         ep+64(FP), $0
	JNE          epis512
	TESTQ        $1, set+56(FP)
	JNZ          sets512
	STOREALL512
	VZEROUPPER
	RET

sets512:
	SETALL512
	VZEROUPPER
	RET

epis512:
	EPLOAD512(ep+64(FP))
	TESTQ $1, set+56(FP)
	JNZ   episets512
	EPADDALL512
	VZEROUPPER
	RET

episets512:
	EPSETALL512
	VZEROUPPER
	RET

// func kernel4x32(k int, a, b, c *float32, ldc int, alpha float32)
//
// kernel12x32 on the first four rows of a packed 12-row panel of A (a at
// the panel plus the row offset; steps of k stay 12 floats apart): the
// short last panel of a product whose rows are not a multiple of 12 (a
// 7x7 map's 49 rows, one image's) costs a third of a full panel, not all
// of it. It always stores alpha times the product (the edge tile, which
// the caller copies out). Eight accumulators are as many FMAs as the two
// ports keep in flight.
TEXT ·kernel4x32(SB), NOSPLIT, $0-44
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

loop4x32:
	VMOVUPS (DX), Z24
	VMOVUPS 64(DX), Z25
	ROW512(0(SI), Z26, Z0, Z1)
	ROW512(4(SI), Z27, Z2, Z3)
	ROW512(8(SI), Z28, Z4, Z5)
	ROW512(12(SI), Z29, Z6, Z7)
	ADDQ $48, SI
	ADDQ $128, DX
	DECQ CX
	JNZ  loop4x32

	VBROADCASTSS alpha+40(FP), Z30
	SET512(Z0, Z1)
	SET512(Z2, Z3)
	SET512(Z4, Z5)
	SET512(Z6, Z7)
	VZEROUPPER
	RET
