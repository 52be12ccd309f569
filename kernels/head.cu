// The head's CUDA kernels: Conv2D kxk same + bias + ReLU -> global average
// pool -> Dense -> softmax cross-entropy, its backward pass (no gradient for
// the frozen features) and one fused optimizer step over the flat parameter
// buffer. They mirror head/cpu.go and head/cpu_update.go, the reference.
//
// gorgonia/cu's launcher passes every kernel argument as 8 bytes, so every
// scalar parameter here is a long long or a double; pointers are 8 bytes.
// Layouts (all row-major, float32):
//   feats   [N, H, W, C]  samples back to back; a batch picks them by idx
//   act     [B*H*W, F]    rows (b, y, x); conv output after bias and ReLU
//   conv W  [k, k, C, F]  HWIO, so the GEMM's K index is (dy, dx, c)
//   dense W [P, classes]  P = F (conv head) or C (linear probe)

#define TILE_M 128
#define TILE_N 128
#define TILE_K 8
#define THREADS 256
// Row stride of the A tile in shared memory: 4 floats of padding keep the
// transposing stores of the conv forward free of bank conflicts and the
// float4 reads aligned.
#define A_STRIDE (TILE_M + 4)

typedef long long i64;

// relu keeps NaN, as head/cpu.go's max(v, 0) does, so that a NaN
// pre-activation (a NaN weight, say) reaches the loss and stops training
// there; fmaxf(NaN, 0) would be 0. -0 becomes +0, +-Inf stay.
__device__ __forceinline__ float relu(float v) { return v <= 0.0f ? 0.0f : v; }

// ---------------------------------------------------------------------------
// The tiled SGEMM core shared by the conv forward and the conv weight
// gradient: a 128x128 output tile per block of 256 threads, each thread an
// 8x8 register tile split in 4x4 quadrants (rows ty*4 and 64+ty*4, columns
// tx*4 and 64+tx*4) so that the float4 reads from shared memory are
// conflict-free; K advances 8 at a time through double-buffered shared
// memory, the next slice prefetched into registers while this one computes.

struct Tile {
    float a[2][TILE_K][A_STRIDE];
    float b[2][TILE_K][TILE_N];
};

__device__ __forceinline__ void tile_compute(const Tile &s, int buf, int tx, int ty, float acc[8][8]) {
#pragma unroll
    for (int k = 0; k < TILE_K; ++k) {
        float4 a0 = *reinterpret_cast<const float4 *>(&s.a[buf][k][ty * 4]);
        float4 a1 = *reinterpret_cast<const float4 *>(&s.a[buf][k][64 + ty * 4]);
        float4 b0 = *reinterpret_cast<const float4 *>(&s.b[buf][k][tx * 4]);
        float4 b1 = *reinterpret_cast<const float4 *>(&s.b[buf][k][64 + tx * 4]);
        float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
        for (int i = 0; i < 8; ++i) {
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
        }
    }
}

// tile_store writes the block's output tile (rows m0.., columns n0..) of an
// m x n matrix; epi 1 adds the bias of the column and applies ReLU.
__device__ __forceinline__ void tile_store(float *out, const float *bias, i64 m, i64 n, i64 m0, i64 n0, int tx, int ty,
                                           const float acc[8][8], i64 epi) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        i64 r = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
        if (r >= m) {
            continue;
        }
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            i64 c = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
            if (c < n) {
                float v = acc[i][j];
                if (epi) {
                    v = relu(v + bias[c]);
                }
                out[r * n + c] = v;
            }
        }
    }
}

// load_rows fetches 4 consecutive columns (col0..col0+3) of row `row` of a
// row-major rows x cols matrix, zero outside it.
__device__ __forceinline__ void load_rows(const float *x, i64 rows, i64 cols, i64 row, i64 col0, float v[4]) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        v[j] = (row < rows && col0 + j < cols) ? x[row * cols + col0 + j] : 0.0f;
    }
}

// ---------------------------------------------------------------------------
// conv_fwd: act = relu(im2col(feats[idx]) * W + bias) as an implicit GEMM
// (M = B*H*W rows, K = k*k*C, N = F), the im2col rows gathered on the fly
// from the resident feature buffer. Grid (ceil(F/128), ceil(M/128), splits):
// split s sums K slice [s*kslice, (s+1)*kslice) (kslice a multiple of 8).
// With one split (epi 1) the epilogue adds the bias and applies ReLU; with
// several (epi 0) each writes its raw partial to out + s*M*F, and
// splitk_reduce finishes.
extern "C" __global__ void __launch_bounds__(THREADS, 2)
conv_fwd(const float *__restrict__ feats, const int *__restrict__ idx, const float *__restrict__ w,
         const float *__restrict__ bias, float *__restrict__ out, i64 batch, i64 h, i64 wd, i64 c, i64 f, i64 k,
         i64 kslice, i64 epi) {
    __shared__ __align__(16) Tile s;
    const int t = threadIdx.x, tx = t & 15, ty = t >> 4;
    const i64 hw = h * wd, m = batch * hw, kdim = k * k * c, pad = k / 2;
    const i64 m0 = (i64)blockIdx.y * TILE_M, n0 = (i64)blockIdx.x * TILE_N;
    const i64 kbeg = (i64)blockIdx.z * kslice, kend = min(kbeg + kslice, kdim);

    // This thread gathers row am of the A tile, columns acol..acol+3 of each
    // K slice; the row's pixel is fixed, its tap (dy, dx, ch) walks with K.
    const int am = t >> 1, acol = (t & 1) * 4;
    const i64 row = m0 + am;
    // ybase/xbase: the row's pixel minus the padding; a row past M gets a
    // ybase that fails every bounds test.
    const float *sample = feats;
    int ybase = -(1 << 30), xbase = 0;
    if (row < m) {
        i64 b = row / hw, p = row - b * hw;
        sample = feats + (i64)idx[b] * hw * c;
        int py = (int)(p / wd);
        ybase = py - (int)pad;
        xbase = (int)(p - (i64)py * wd) - (int)pad;
    }
    const int ci = (int)c, ki = (int)k, hi = (int)h, wi = (int)wd;
    i64 kk0 = kbeg + acol;
    int tap = (int)(kk0 / c), ch = (int)(kk0 - (i64)tap * c);
    int dy = tap / ki, dx = tap - dy * ki;
    // B tile: row brow of the K slice, columns bcol..bcol+3.
    const int brow = t >> 5, bcol = (t & 31) * 4;

    // K offsets below are relative to kbeg, in 32 bits.
    const int klen = (int)(kend - kbeg);
    const float *wslice = w + kbeg * f;
    float ra[4], rb[4];
    auto load = [&](int kt) {
        // A: walk 4 taps from the current position, then 4 more to the next slice.
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            float v = 0.0f;
            const int sy = ybase + dy, sx = xbase + dx;
            if (kt + acol + j < klen && sy >= 0 && sy < hi && sx >= 0 && sx < wi) {
                v = sample[((i64)sy * wi + sx) * ci + ch];
            }
            ra[j] = v;
            if (++ch == ci) {
                ch = 0;
                if (++dx == ki) {
                    dx = 0;
                    ++dy;
                }
            }
        }
#pragma unroll
        for (int j = 0; j < TILE_K - 4; ++j) {
            if (++ch == ci) {
                ch = 0;
                if (++dx == ki) {
                    dx = 0;
                    ++dy;
                }
            }
        }
        load_rows(wslice, klen, f, kt + brow, n0 + bcol, rb);
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            s.a[buf][acol + j][am] = ra[j];
        }
        *reinterpret_cast<float4 *>(&s.b[buf][brow][bcol]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
    };

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            acc[i][j] = 0.0f;
        }
    }
    int buf = 0;
    if (klen > 0) {
        load(0);
        store(0);
    }
    __syncthreads();
    for (int kt = 0; kt < klen; kt += TILE_K) {
        const bool more = kt + TILE_K < klen;
        if (more) {
            load(kt + TILE_K);
        }
        tile_compute(s, buf, tx, ty, acc);
        if (more) {
            store(buf ^ 1);
        }
        __syncthreads();
        buf ^= 1;
    }
    tile_store(out + (i64)blockIdx.z * m * f, bias, m, f, m0, n0, tx, ty, acc, epi);
}

// ---------------------------------------------------------------------------
// conv_wgrad: dW = im2col(feats[idx])^T * dZ, a K x F output (K = k*k*C)
// reduced over the M = B*H*W rows. Grid (ceil(F/128), ceil(K/128), splits):
// split s sums rows [s*mslice, (s+1)*mslice) (mslice a multiple of 8) and
// writes its partial to out + s*K*F.
extern "C" __global__ void __launch_bounds__(THREADS, 2)
conv_wgrad(const float *__restrict__ feats, const int *__restrict__ idx, const float *__restrict__ dz,
           float *__restrict__ out, i64 batch, i64 h, i64 wd, i64 c, i64 f, i64 k, i64 mslice) {
    __shared__ __align__(16) Tile s;
    const int t = threadIdx.x, tx = t & 15, ty = t >> 4;
    const i64 hw = h * wd, m = batch * hw, kdim = k * k * c, pad = k / 2;
    const i64 k0 = (i64)blockIdx.y * TILE_M, n0 = (i64)blockIdx.x * TILE_N;
    const i64 rbeg = (i64)blockIdx.z * mslice, rend = min(rbeg + mslice, m);
    const int ci = (int)c, hi = (int)h, wi = (int)wd;

    // A tile (im2col^T): this thread loads K column acol of rows
    // arow..arow+3 of each 8-row slice (a warp reads 32 consecutive K
    // columns: mostly contiguous channels). Its tap is fixed; a column past
    // K gets a row offset that fails the bounds test.
    const int acol = t & 127, arow = (t >> 7) * 4;
    const i64 kk = k0 + acol;
    const i64 tap = kk / c, ch = kk - tap * c;
    const int tdy = kk < kdim ? (int)(tap / k - pad) : -(1 << 30);
    const int tdx = (int)(tap % k - pad);
    const int toff = kk < kdim ? (int)((tdy * wd + tdx) * c + ch) : 0;
    // Pixel (pb, py, px) of the next row this thread loads.
    const i64 r0 = rbeg + arow;
    int pb = (int)(r0 / hw);
    int pp = (int)(r0 - (i64)pb * hw);
    int py = pp / wi, px = pp - py * wi;
    const int brow = t >> 5, bcol = (t & 31) * 4;
    auto next_pixel = [&]() {
        if (++px == wi) {
            px = 0;
            if (++py == hi) {
                py = 0;
                ++pb;
            }
        }
    };

    float ra[4], rb[4];
    auto load = [&](i64 rt) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int sy = py + tdy, sx = px + tdx;
            float v = 0.0f;
            if (rt + arow + j < rend && sy >= 0 && sy < hi && sx >= 0 && sx < wi) {
                v = feats[(i64)idx[pb] * hw * c + ((i64)py * wi + px) * ci + toff];
            }
            ra[j] = v;
            next_pixel();
        }
#pragma unroll
        for (int j = 0; j < TILE_K - 4; ++j) {
            next_pixel();
        }
        load_rows(dz, rend, f, rt + brow, n0 + bcol, rb);
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            s.a[buf][arow + j][acol] = ra[j];
        }
        *reinterpret_cast<float4 *>(&s.b[buf][brow][bcol]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
    };

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            acc[i][j] = 0.0f;
        }
    }
    int buf = 0;
    if (rbeg < rend) {
        load(rbeg);
        store(0);
    }
    __syncthreads();
    for (i64 rt = rbeg; rt < rend; rt += TILE_K) {
        const bool more = rt + TILE_K < rend;
        if (more) {
            load(rt + TILE_K);
        }
        tile_compute(s, buf, tx, ty, acc);
        if (more) {
            store(buf ^ 1);
        }
        __syncthreads();
        buf ^= 1;
    }
    tile_store(out + (i64)blockIdx.z * kdim * f, nullptr, kdim, f, k0, n0, tx, ty, acc, 0);
}

// splitk_reduce sums `splits` partial m x n matrices (back to back in ws)
// into out; epi 1 adds the column's bias and applies ReLU.
extern "C" __global__ void splitk_reduce(const float *__restrict__ ws, const float *__restrict__ bias,
                                         float *__restrict__ out, i64 m, i64 n, i64 splits, i64 epi) {
    const i64 total = m * n;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
        float v = 0.0f;
        for (i64 s = 0; s < splits; ++s) {
            v += ws[s * total + i];
        }
        if (epi) {
            v = relu(v + bias[i % n]);
        }
        out[i] = v;
    }
}

// ---------------------------------------------------------------------------
// Tensor-core tiles (sm_80 and newer): the conv forward and weight-gradient
// GEMMs with warp-level mma.sync, TF32 m16n8k8 or BF16 m16n8k16, inputs
// rounded from the float32 buffers as they leave shared memory (TF32:
// cvt.rna, to nearest with ties away from zero; BF16: cvt.rn, ties to even),
// products and sums in float32. A block of 256 threads (8 warps, 2 x 4)
// computes a 128 x 128 output tile, each warp 64 x 32 (4 x 4 mma tiles); K
// advances 16 at a time through a 3-stage cp.async pipeline (16-byte
// copies, zero-filled outside the image or the matrix) in exactly 48 KiB
// of shared memory: no padding, the 16-byte chunks of each row are
// XOR-swizzled instead (tc_a, tc_b) so that the TF32 fragment reads and
// the forward's BF16 A reads hit distinct banks (the other BF16 reads are
// 2-way: docs/cuda.md). K runs tap-major: the channels of one filter tap are
// contiguous in K and C is a multiple of 16, so each 16-long K step stays
// inside one tap and its rows are plain 16-float runs of the feature map.
// Preconditions, checked by gpu/ops.go before it picks these kernels:
// C % 16 == 0, F % 4 == 0, slices a multiple of 16, 16-byte aligned
// buffers. On older GPUs (the compute_70 PTX) the kernels trap: gpu/ops.go
// uses the SIMT kernels there.
#define TC_M 128
#define TC_N 128
#define TC_K 16
#define TC_STAGES 3
#define TC_THREADS 256
#define PREC_TF32 0
#define PREC_BF16 1

#ifndef GRAFT_EMU
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool valid) {
    const unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
// pack_bf16: lo in the low half (the smaller K index), hi in the high.
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
__device__ __forceinline__ void mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma_bf16(float d[4], const unsigned a[4], const unsigned b[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

#if defined(GRAFT_EMU) || !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define TC_AVAILABLE 1
#endif

// to_tf32 rounds x to TF32 with cvt.rna.tf32.f32 (to nearest, ties away
// from zero; Inf stays Inf, every NaN becomes the canonical NaN); the
// tensor core reads the top 19 bits. An integer add of half a TF32 ulp
// (one instruction) would round finite values the same way, but it turns
// CUDA's canonical NaN 0x7fffffff into -0, 0xffffffff into +0 and
// 0x7f800001 into Inf, so that a NaN would vanish in the GEMMs; guarding
// it costs more than cvt (sm_90 SASS, instructions per warp and K step of
// conv_fwd_tf32: 252 unguarded, 445 with the guard, 301 with cvt). The
// emulator models cvt.rna in emu.h.
#ifndef GRAFT_EMU
__device__ __forceinline__ unsigned to_tf32(float x) {
#ifdef TC_AVAILABLE
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
#else
    return __float_as_uint(x); // compute_70: the tensor-core kernels trap
#endif
}
#endif

// The two swizzled layouts of a stage, as float offsets:
// tc_a: 128 rows of 16 (the forward's A: row m, K index k); chunk k/4 of
//   row m sits at chunk k/4 ^ tc_aswz(m): the two bits of m/2 % 4
//   swapped. Any bijection of m/2 % 4 keeps the TF32 reads (8 rows, one
//   chunk) on 32 banks; this one also keeps the BF16 reads, 64-bit pairs
//   served a half-warp (4 rows, chunks 2h2 and 2h2 + 1) at a time, off each
//   other's banks: rows m and m + 2 get chunk pairs apart (m/2 % 4 without
//   the swap put them on the same two).
// tc_b: 16 rows of 128 (B, and the weight gradient's A^T: row k, column
//   n); chunk n/4 of row k sits at chunk n/4 ^ 2(k % 4).
__device__ __forceinline__ int tc_aswz(int m) { return ((m >> 1) & 1) << 1 | ((m >> 2) & 1); }
__device__ __forceinline__ int tc_a(int m, int k) { return m * TC_K + ((((k >> 2) ^ tc_aswz(m)) & 3) << 2) + (k & 3); }
__device__ __forceinline__ int tc_b(int k, int n) { return k * TC_N + (((n >> 2) ^ ((k & 3) << 1)) << 2) + (n & 3); }

// The fragment reads of a warp's 64 x 32 tile, as per-lane offsets into a
// stage computed once per block (the swizzles are per lane, the rest
// compile-time immediates): PTX's fragment layouts for mma.m16n8k8 (TF32)
// and mma.m16n8k16 (BF16) put, for lane = 4 g + q, rows g and g + 8 of the
// A tile and column g of the B tile, K indices q and q + 4 (TF32) or 2q,
// 2q + 1, 2q + 8 and 2q + 9 (BF16). In the accessors mi (0..3) picks the
// warp's 16-row slab, ni (0..3) its 8-column slab, h the row half (+8), c
// the 4-long K chunk (TF32), and h2 (+8) and j (+1) the BF16 pairs.

// FwdA: the forward's A (im2col rows) in tc_a's layout.
struct FwdA {
    int o[4], ob[2];
    __device__ __forceinline__ FwdA(int mo, int lane) {
        const int g = lane >> 2, q = lane & 3;
#pragma unroll
        for (int c = 0; c < 4; ++c) o[c] = (mo + g) * TC_K + (((c ^ tc_aswz(g)) & 3) << 2) + q;
#pragma unroll
        for (int h2 = 0; h2 < 2; ++h2) ob[h2] = (mo + g) * TC_K + (((((q >> 1) + 2 * h2) ^ tc_aswz(g)) & 3) << 2) + (2 * q & 3);
    }
    __device__ __forceinline__ float tf(const float *s, int mi, int h, int c) const { return s[o[c] + (mi * 16 + 8 * h) * TC_K]; }
    __device__ __forceinline__ float bf(const float *s, int mi, int h, int h2, int j) const {
        return s[ob[h2] + (mi * 16 + 8 * h) * TC_K + j];
    }
};

// WgA: the weight gradient's A, stored transposed (row p of the stage is
// pixel p, column the output row) in tc_b's layout.
struct WgA {
    int o[2][2], ob[2][2][2];
    __device__ __forceinline__ WgA(int mo, int lane) {
        const int g = lane >> 2, q = lane & 3;
#pragma unroll
        for (int m1 = 0; m1 < 2; ++m1)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int low = 4 * m1 + 2 * h + (g >> 2);
                o[m1][h] = q * TC_N + (((mo >> 2) + (low ^ (2 * q))) << 2) + (g & 3);
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    ob[j][m1][h] = (2 * q + j) * TC_N + (((mo >> 2) + (low ^ (((2 * q & 3) + j) << 1))) << 2) + (g & 3);
                }
            }
    }
    __device__ __forceinline__ float tf(const float *s, int mi, int h, int c) const {
        return s[o[mi & 1][h] + (mi >> 1) * 32 + c * 4 * TC_N];
    }
    __device__ __forceinline__ float bf(const float *s, int mi, int h, int h2, int j) const {
        return s[ob[j][mi & 1][h] + (mi >> 1) * 32 + h2 * 8 * TC_N];
    }
};

// TileB: B (k rows of n) in tc_b's layout, columns no.. of the warp.
struct TileB {
    int o[4], ob[2][4];
    __device__ __forceinline__ TileB(int no, int lane) {
        const int g = lane >> 2, q = lane & 3;
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) {
            const int low = 2 * ni + (g >> 2);
            o[ni] = q * TC_N + (((no >> 2) + (low ^ (2 * q))) << 2) + (g & 3);
#pragma unroll
            for (int j = 0; j < 2; ++j) ob[j][ni] = (2 * q + j) * TC_N + (((no >> 2) + (low ^ (((2 * q & 3) + j) << 1))) << 2) + (g & 3);
        }
    }
    __device__ __forceinline__ float tf(const float *s, int ni, int c) const { return s[o[ni] + c * 4 * TC_N]; }
    __device__ __forceinline__ float bf(const float *s, int ni, int h2, int j) const { return s[ob[j][ni] + h2 * 8 * TC_N]; }
};

// tc_tile runs one K step (16) of a warp's 64 x 32 tile from stage (as, bs).
template <int PREC, class A>
__device__ __forceinline__ void tc_tile(const A &a, const TileB &b, const float *as, const float *bs, float acc[4][4][4]) {
    if (PREC == PREC_TF32) {
#pragma unroll
        for (int kq = 0; kq < 2; ++kq) {
            unsigned af[4][4], bf[4][2];
#pragma unroll
            for (int mi = 0; mi < 4; ++mi) {
                af[mi][0] = to_tf32(a.tf(as, mi, 0, 2 * kq));
                af[mi][1] = to_tf32(a.tf(as, mi, 1, 2 * kq));
                af[mi][2] = to_tf32(a.tf(as, mi, 0, 2 * kq + 1));
                af[mi][3] = to_tf32(a.tf(as, mi, 1, 2 * kq + 1));
            }
#pragma unroll
            for (int ni = 0; ni < 4; ++ni) {
                bf[ni][0] = to_tf32(b.tf(bs, ni, 2 * kq));
                bf[ni][1] = to_tf32(b.tf(bs, ni, 2 * kq + 1));
            }
#pragma unroll
            for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
                for (int ni = 0; ni < 4; ++ni) {
                    mma_tf32(acc[mi][ni], af[mi], bf[ni]);
                }
            }
        }
    } else {
        unsigned af[4][4], bf[4][2];
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) {
            af[mi][0] = pack_bf16(a.bf(as, mi, 0, 0, 0), a.bf(as, mi, 0, 0, 1));
            af[mi][1] = pack_bf16(a.bf(as, mi, 1, 0, 0), a.bf(as, mi, 1, 0, 1));
            af[mi][2] = pack_bf16(a.bf(as, mi, 0, 1, 0), a.bf(as, mi, 0, 1, 1));
            af[mi][3] = pack_bf16(a.bf(as, mi, 1, 1, 0), a.bf(as, mi, 1, 1, 1));
        }
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) {
            bf[ni][0] = pack_bf16(b.bf(bs, ni, 0, 0), b.bf(bs, ni, 0, 1));
            bf[ni][1] = pack_bf16(b.bf(bs, ni, 1, 0), b.bf(bs, ni, 1, 1));
        }
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
            for (int ni = 0; ni < 4; ++ni) {
                mma_bf16(acc[mi][ni], af[mi], bf[ni]);
            }
        }
    }
}

// tc_store writes a warp's tile (rows r0.., columns c0..) of an m x n
// matrix with 8-byte stores (n is even); epi adds the column's bias and
// applies ReLU.
__device__ __forceinline__ void tc_store(float *out, const float *bias, i64 m, i64 n, i64 r0, i64 c0, int lane,
                                         const float acc[4][4][4], i64 epi) {
    const int g = lane >> 2, q = lane & 3;
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
        const i64 col = c0 + ni * 8 + 2 * q;
        if (col >= n) {
            continue;
        }
        const float b0 = epi ? bias[col] : 0.0f, b1 = epi ? bias[col + 1] : 0.0f;
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const i64 row = r0 + mi * 16 + g + 8 * half;
                if (row < m) {
                    float v0 = acc[mi][ni][2 * half], v1 = acc[mi][ni][2 * half + 1];
                    if (epi) {
                        v0 = relu(v0 + b0);
                        v1 = relu(v1 + b1);
                    }
                    *reinterpret_cast<float2 *>(&out[row * n + col]) = make_float2(v0, v1);
                }
            }
        }
    }
}

__device__ __forceinline__ void tc_zero(float acc[4][4][4]) {
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0.0f;
}

// tc_mainloop runs a warp's 64 x 32 tile over `steps` K steps through the
// TC_STAGES-deep cp.async pipeline (both tensor-core GEMMs): load(stage)
// issues one step's copies into that stage of (sa, sb); acc ends holding
// the tile's sums, every copy landed.
template <int PREC, class A, class Load>
__device__ __forceinline__ void tc_mainloop(int steps, const Load &load, const A &fa, const TileB &fb,
                                            const float (*sa)[TC_M * TC_K], const float (*sb)[TC_K * TC_N],
                                            float acc[4][4][4]) {
    tc_zero(acc);
#pragma unroll
    for (int st = 0; st < TC_STAGES - 1; ++st) {
        if (st < steps) {
            load(st);
        }
        cp_async_commit();
    }
    for (int step = 0; step < steps; ++step) {
        // Step `step` has landed (this thread's copies: the wait; everyone's:
        // the barrier), and every warp is done with the stage reloaded next.
        cp_async_wait<TC_STAGES - 2>();
        __syncthreads();
        const int next = step + TC_STAGES - 1;
        if (next < steps) {
            load(next % TC_STAGES);
        }
        cp_async_commit();
        tc_tile<PREC>(fa, fb, sa[step % TC_STAGES], sb[step % TC_STAGES], acc);
    }
    cp_async_wait<0>();
}

// conv_fwd_tc: conv_fwd on tensor cores, same arguments and split-K
// contract (grid (ceil(F/128), ceil(M/128), splits)).
template <int PREC>
__device__ __forceinline__ void conv_fwd_tc(const float *__restrict__ feats, const int *__restrict__ idx,
                                            const float *__restrict__ w, const float *__restrict__ bias,
                                            float *__restrict__ out, i64 batch, i64 h, i64 wd, i64 c, i64 f, i64 k,
                                            i64 kslice, i64 epi) {
#ifdef TC_AVAILABLE
    __shared__ __align__(16) float sa[TC_STAGES][TC_M * TC_K];
    __shared__ __align__(16) float sb[TC_STAGES][TC_K * TC_N];
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5, wm = warp & 1, wn = warp >> 1;
    const i64 hw = h * wd, m = batch * hw, kdim = k * k * c, pad = k / 2;
    const i64 m0 = (i64)blockIdx.y * TC_M, n0 = (i64)blockIdx.x * TC_N;
    const i64 kbeg = (i64)blockIdx.z * kslice, kend = min(kbeg + kslice, kdim);
    const int steps = (int)((kend - kbeg + TC_K - 1) / TC_K);
    const int ci = (int)c, ki = (int)k, hi = (int)h, wi = (int)wd;

    // A: this thread copies chunk aq (4 floats) of the K step for rows ar
    // and ar + 64; each row's sample base and pixel are computed once, and
    // offsets inside a sample are 32-bit.
    const int ar = t >> 2, aq = t & 3;
    const float *base[2];
    int ay[2], ax[2], roff[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const i64 row = m0 + ar + 64 * r;
        // A row past M gets a ay that fails every bounds test (its copies
        // are zero-fills) and no offset: (ay W + ax) C would overflow.
        base[r] = feats;
        ay[r] = -(1 << 30);
        ax[r] = 0;
        roff[r] = aq * 4;
        if (row < m) {
            const i64 b = row / hw, p = row - b * hw;
            base[r] = feats + (i64)idx[b] * hw * c;
            ay[r] = (int)(p / wd) - (int)pad;
            ax[r] = (int)(p % wd) - (int)pad;
            roff[r] += (ay[r] * wi + ax[r]) * ci;
        }
    }
    // The K position of the next step to load: tap (dy, dx), channel ch,
    // and its offset (dy W + dx) C + ch from a row's corner.
    int tap = (int)(kbeg / c), ch = (int)(kbeg - (i64)tap * c);
    int dy = tap / ki, dx = tap - (tap / ki) * ki;
    int toff = (dy * wi + dx) * ci + ch;
    // B: chunk bc of rows bk and bk + 8 of the K step.
    const int bk = t >> 5, bc = t & 31;
    const bool bok = n0 + bc * 4 < f;
    const float *wrow = w + (kbeg + bk) * f + n0 + bc * 4;
    const i64 wstep = TC_K * f;
    auto load = [&](int st) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const bool ok = (unsigned)(ay[r] + dy) < (unsigned)hi && (unsigned)(ax[r] + dx) < (unsigned)wi;
            cp_async16(&sa[st][tc_a(ar + 64 * r, aq * 4)], ok ? base[r] + roff[r] + toff : feats, ok);
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            cp_async16(&sb[st][tc_b(bk + 8 * r, bc * 4)], bok ? wrow + 8 * r * f : w, bok);
        }
        wrow += wstep;
        toff += TC_K;
        if ((ch += TC_K) == ci) {
            ch = 0;
            if (++dx == ki) {
                dx = 0;
                ++dy;
            }
            toff = (dy * wi + dx) * ci;
        }
    };

    float acc[4][4][4];
    tc_mainloop<PREC>(steps, load, FwdA(wm * 64, lane), TileB(wn * 32, lane), sa, sb, acc);
    tc_store(out + (i64)blockIdx.z * m * f, bias, m, f, m0 + wm * 64, n0 + wn * 32, lane, acc, epi);
#else
    __trap();
#endif
}

// conv_wgrad_tc: conv_wgrad on tensor cores, same arguments and split-K
// contract (grid (ceil(F/128), ceil(K/128), splits)); the reduction runs
// over the batch's pixels, 16 at a time.
template <int PREC>
__device__ __forceinline__ void conv_wgrad_tc(const float *__restrict__ feats, const int *__restrict__ idx,
                                              const float *__restrict__ dz, float *__restrict__ out, i64 batch, i64 h,
                                              i64 wd, i64 c, i64 f, i64 k, i64 mslice) {
#ifdef TC_AVAILABLE
    __shared__ __align__(16) float sa[TC_STAGES][TC_K * TC_M];
    __shared__ __align__(16) float sb[TC_STAGES][TC_K * TC_N];
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5, wm = warp & 1, wn = warp >> 1;
    const i64 hw = h * wd, m = batch * hw, kdim = k * k * c, pad = k / 2;
    const i64 k0 = (i64)blockIdx.y * TC_M, n0 = (i64)blockIdx.x * TC_N;
    const i64 rbeg = (i64)blockIdx.z * mslice, rend = min(rbeg + mslice, m);
    const int steps = (int)((rend - rbeg + TC_K - 1) / TC_K);
    const int hi = (int)h, wi = (int)wd;

    // A^T: this thread copies K columns kq*4.. (one tap, 4 channels) of
    // pixel rows pr and pr + 8 of each step; its tap offset is fixed.
    const int pr = t >> 5, kq = t & 31;
    const i64 kk = k0 + kq * 4;
    const bool kok = kk < kdim;
    const int ci = (int)c, tap = kok ? (int)(kk / c) : 0;
    const int tdy = tap / (int)k - (int)pad, tdx = tap % (int)k - (int)pad;
    const int toff = (tdy * wi + tdx) * ci + (int)(kk - (i64)tap * c);
    // Per row: pixel (py, px) of sample pb, its offset p C in the sample
    // (32-bit), the sample's base, the rows left in the slice and the dZ
    // row; all advanced 16 rows per step.
    int pb[2], py[2], px[2], poff[2], rem[2];
    const float *base[2], *dzp[2];
    const bool bok = n0 + kq * 4 < f; // B (dZ): chunk kq of pixel rows pr and pr + 8
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const i64 row = rbeg + pr + 8 * r;
        pb[r] = (int)(row / hw);
        const int p = (int)(row - (i64)pb[r] * hw);
        py[r] = p / wi;
        px[r] = p - py[r] * wi;
        poff[r] = p * ci;
        rem[r] = (int)(rend - row);
        base[r] = row < rend ? feats + (i64)idx[pb[r]] * hw * c : feats;
        dzp[r] = dz + row * f + n0 + kq * 4;
    }
    const int adv_y = TC_K / wi, adv_x = TC_K - adv_y * wi, hwc = (int)(hw * c);
    const i64 dzstep = TC_K * f;
    auto load = [&](int st) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const bool ok = kok && rem[r] > 0 && (unsigned)(py[r] + tdy) < (unsigned)hi && (unsigned)(px[r] + tdx) < (unsigned)wi;
            cp_async16(&sa[st][tc_b(pr + 8 * r, kq * 4)], ok ? base[r] + poff[r] + toff : feats, ok);
            const bool dok = bok && rem[r] > 0;
            cp_async16(&sb[st][tc_b(pr + 8 * r, kq * 4)], dok ? dzp[r] : dz, dok);
            // The next step's pixel, 16 rows on: (adv_y, adv_x) = divmod(16,
            // W) without a division; the loop runs only for images of
            // fewer than 16 pixels.
            dzp[r] += dzstep;
            rem[r] -= TC_K;
            poff[r] += TC_K * ci;
            px[r] += adv_x;
            py[r] += adv_y;
            if (px[r] >= wi) {
                px[r] -= wi;
                ++py[r];
            }
            if (py[r] >= hi) {
                do {
                    py[r] -= hi;
                    poff[r] -= hwc;
                    ++pb[r];
                } while (py[r] >= hi);
                if (rem[r] > 0) {
                    base[r] = feats + (i64)idx[pb[r]] * hw * c;
                }
            }
        }
    };

    float acc[4][4][4];
    tc_mainloop<PREC>(steps, load, WgA(wm * 64, lane), TileB(wn * 32, lane), sa, sb, acc);
    tc_store(out + (i64)blockIdx.z * kdim * f, nullptr, kdim, f, k0 + wm * 64, n0 + wn * 32, lane, acc, 0);
#else
    __trap();
#endif
}

// The four tensor-core kernels (the precision is a template argument, so
// that each inner loop is straight-line code). Two blocks per SM: 128
// registers a thread (the bound; make kernels refuses spills), 48 KiB of
// shared memory a block.
extern "C" __global__ void __launch_bounds__(TC_THREADS, 2)
conv_fwd_tf32(const float *__restrict__ feats, const int *__restrict__ idx, const float *__restrict__ w,
              const float *__restrict__ bias, float *__restrict__ out, i64 batch, i64 h, i64 wd, i64 c, i64 f, i64 k,
              i64 kslice, i64 epi) {
    conv_fwd_tc<PREC_TF32>(feats, idx, w, bias, out, batch, h, wd, c, f, k, kslice, epi);
}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 2)
conv_fwd_bf16(const float *__restrict__ feats, const int *__restrict__ idx, const float *__restrict__ w,
              const float *__restrict__ bias, float *__restrict__ out, i64 batch, i64 h, i64 wd, i64 c, i64 f, i64 k,
              i64 kslice, i64 epi) {
    conv_fwd_tc<PREC_BF16>(feats, idx, w, bias, out, batch, h, wd, c, f, k, kslice, epi);
}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 2)
conv_wgrad_tf32(const float *__restrict__ feats, const int *__restrict__ idx, const float *__restrict__ dz,
                float *__restrict__ out, i64 batch, i64 h, i64 wd, i64 c, i64 f, i64 k, i64 mslice) {
    conv_wgrad_tc<PREC_TF32>(feats, idx, dz, out, batch, h, wd, c, f, k, mslice);
}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 2)
conv_wgrad_bf16(const float *__restrict__ feats, const int *__restrict__ idx, const float *__restrict__ dz,
                float *__restrict__ out, i64 batch, i64 h, i64 wd, i64 c, i64 f, i64 k, i64 mslice) {
    conv_wgrad_tc<PREC_BF16>(feats, idx, dz, out, batch, h, wd, c, f, k, mslice);
}

// ---------------------------------------------------------------------------
// Global average pooling. pool_rows: pooled[b, j] = mean over the hw rows of
// sample b of x ([B*hw, width]); gather_pool does the same on the samples
// idx of the feature buffer (the linear probe). Grid (ceil(width/128), B).

extern "C" __global__ void pool_rows(const float *__restrict__ x, float *__restrict__ pooled, i64 hw, i64 width) {
    const i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x, b = blockIdx.y;
    if (j >= width) {
        return;
    }
    const float *rows = x + b * hw * width + j;
    float sum = 0.0f;
    for (i64 p = 0; p < hw; ++p) {
        sum += rows[p * width];
    }
    pooled[b * width + j] = sum * (1.0f / (float)hw);
}

extern "C" __global__ void gather_pool(const float *__restrict__ feats, const int *__restrict__ idx,
                                       float *__restrict__ pooled, i64 hw, i64 width) {
    const i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x, b = blockIdx.y;
    if (j >= width) {
        return;
    }
    const float *rows = feats + (i64)idx[b] * hw * width + j;
    float sum = 0.0f;
    for (i64 p = 0; p < hw; ++p) {
        sum += rows[p * width];
    }
    pooled[b * width + j] = sum * (1.0f / (float)hw);
}

// dense_fwd: logits[b, n] = bias[n] + sum_j pooled[b, j] * w[j, n], one
// thread per logit.
extern "C" __global__ void dense_fwd(const float *__restrict__ pooled, const float *__restrict__ w,
                                     const float *__restrict__ bias, float *__restrict__ logits, i64 batch, i64 in,
                                     i64 classes) {
    const i64 total = batch * classes;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
        const i64 b = i / classes, n = i - b * classes;
        const float *x = pooled + b * in;
        float sum = 0.0f;
        for (i64 j = 0; j < in; ++j) {
            sum = fmaf(x[j], w[j * classes + n], sum);
        }
        logits[i] = sum + bias[n];
    }
}

// softmax_xent: per sample (one warp each), the numerically stable softmax
// cross-entropy against the smoothed one-hot target, in double precision as
// the CPU reference does; writes dLogits = (p - t) / B, the sample's loss
// and whether its arg-max (first maximum) is the label.
extern "C" __global__ void softmax_xent(const float *__restrict__ logits, const int *__restrict__ labels,
                                        float *__restrict__ dlogits, double *__restrict__ loss,
                                        i64 *__restrict__ correct, i64 batch, i64 classes, double smoothing) {
    const i64 b = ((i64)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x & 31;
    if (b >= batch) {
        return;
    }
    const float *z = logits + b * classes;
    float *dz = dlogits + b * classes;
    // Arg-max with the lowest index among equal maxima.
    float best = -INFINITY;
    i64 arg = classes;
    for (i64 j = lane; j < classes; j += 32) {
        float v = z[j];
        if (v > best || (arg == classes && !(v < best))) {
            best = v;
            arg = j;
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ob = __shfl_xor_sync(0xffffffffu, best, o);
        i64 oa = __shfl_xor_sync(0xffffffffu, arg, o);
        if (ob > best || (ob == best && oa < arg)) {
            best = ob;
            arg = oa;
        }
    }
    const double maxz = (double)best;
    double sum = 0.0;
    for (i64 j = lane; j < classes; j += 32) {
        sum += exp((double)z[j] - maxz);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    }
    const double lse = maxz + log(sum);
    const i64 y = labels[b];
    const double off = smoothing / (double)classes, on = 1.0 - smoothing + off;
    double l = 0.0;
    for (i64 j = lane; j < classes; j += 32) {
        const double t = j == y ? on : off, v = (double)z[j];
        l -= t * (v - lse);
        dz[j] = (float)((exp(v - lse) - t) / (double)batch);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        l += __shfl_xor_sync(0xffffffffu, l, o);
    }
    if (lane == 0) {
        loss[b] = l;
        correct[b] = arg == y ? 1 : 0;
    }
}

// dense_bwd, one launch over three index ranges: dW[j, n] = sum_b
// pooled[b, j] dlogits[b, n]; db[n] = sum_b dlogits[b, n]; and, when dpooled
// is not null, dpooled[b, j] = sum_n dlogits[b, n] w[j, n].
extern "C" __global__ void dense_bwd(const float *__restrict__ pooled, const float *__restrict__ dlogits,
                                     const float *__restrict__ w, float *__restrict__ dw, float *__restrict__ db,
                                     float *__restrict__ dpooled, i64 batch, i64 in, i64 classes) {
    const i64 nw = in * classes, nb = classes, np = dpooled ? batch * in : 0, total = nw + nb + np;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
        if (i < nw) {
            const i64 j = i / classes, n = i - j * classes;
            float sum = 0.0f;
            for (i64 b = 0; b < batch; ++b) {
                sum = fmaf(pooled[b * in + j], dlogits[b * classes + n], sum);
            }
            dw[i] = sum;
        } else if (i < nw + nb) {
            const i64 n = i - nw;
            float sum = 0.0f;
            for (i64 b = 0; b < batch; ++b) {
                sum += dlogits[b * classes + n];
            }
            db[n] = sum;
        } else {
            const i64 q = i - nw - nb, b = q / in, j = q - b * in;
            float sum = 0.0f;
            for (i64 n = 0; n < classes; ++n) {
                sum = fmaf(dlogits[b * classes + n], w[j * classes + n], sum);
            }
            dpooled[q] = sum;
        }
    }
}

// unpool_relu: the gradient with respect to the conv's pre-activations,
// dz = dpooled[b, f] / hw where the unit was active and 0 elsewhere,
// written over act in place; bsum[b, f] gets the sum over the sample's hw
// rows for the bias gradient. Grid (ceil(F/128), B).
extern "C" __global__ void unpool_relu(float *__restrict__ act, const float *__restrict__ dpooled,
                                       float *__restrict__ bsum, i64 hw, i64 f) {
    const i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x, b = blockIdx.y;
    if (j >= f) {
        return;
    }
    const float d = dpooled[b * f + j] * (1.0f / (float)hw);
    float *rows = act + b * hw * f + j;
    float sum = 0.0f;
    for (i64 p = 0; p < hw; ++p) {
        const float v = rows[p * f] > 0.0f ? d : 0.0f;
        rows[p * f] = v;
        sum += v;
    }
    bsum[b * f + j] = sum;
}

// sum_rows: out[j] = sum over the rows of an n x width matrix, one thread
// per column.
extern "C" __global__ void sum_rows(const float *__restrict__ x, float *__restrict__ out, i64 n, i64 width) {
    const i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= width) {
        return;
    }
    float sum = 0.0f;
    for (i64 r = 0; r < n; ++r) {
        sum += x[r * width + j];
    }
    out[j] = sum;
}

// ---------------------------------------------------------------------------
// optimizer_step: one pass over the flat parameter buffer. Decoupled weight
// decay (p -= decay * p, decay = lr * wd computed on the host) on the
// kernel prefix [0, decay_end), then the rule:
//   mode 0: SGD                  p -= lr g
//   mode 1: SGD + momentum       v = mu v - lr g; p += v
//   mode 2: SGD + Nesterov       v = mu v - lr g; p += mu v - lr g
//   mode 3: Adam / AdamW         m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
//                                p -= alpha m / (sqrt(v) + eps)
// alpha is Keras's bias-corrected step size, computed on the host in
// float64 as the CPU reference does; omb1/omb2 are 1 - beta in float32.
extern "C" __global__ void optimizer_step(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ s0,
                                          float *__restrict__ s1, i64 n, i64 decay_end, i64 mode, double lr_d,
                                          double decay_d, double mu_d, double alpha_d, double omb1_d, double omb2_d,
                                          double eps_d) {
    const float lr = (float)lr_d, decay = (float)decay_d, mu = (float)mu_d, alpha = (float)alpha_d;
    const float omb1 = (float)omb1_d, omb2 = (float)omb2_d, eps = (float)eps_d;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
        float pi = p[i];
        const float gi = g[i];
        if (i < decay_end) {
            pi -= decay * pi;
        }
        switch (mode) {
        case 0:
            pi -= lr * gi;
            break;
        case 1: {
            const float v = mu * s0[i] - lr * gi;
            s0[i] = v;
            pi += v;
            break;
        }
        case 2: {
            const float v = mu * s0[i] - lr * gi;
            s0[i] = v;
            pi += mu * v - lr * gi;
            break;
        }
        default: {
            float m = s0[i], v = s1[i];
            m += (gi - m) * omb1;
            v += (gi * gi - v) * omb2;
            s0[i] = m;
            s1[i] = v;
            pi -= alpha * m / (sqrtf(v) + eps);
            break;
        }
        }
        p[i] = pi;
    }
}
