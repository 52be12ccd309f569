// emu.h: just enough of CUDA to run head.cu's kernels on the CPU, one
// std::thread per CUDA thread, blocks one after another, __syncthreads a
// block-wide barrier, warp shuffles through a per-warp barrier. It checks
// the kernels' indexing and arithmetic on hosts without a GPU; it says
// nothing about timing, memory-model races or the SASS.
#pragma once
#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

struct uint3e { unsigned x, y, z; };
inline thread_local uint3e threadIdx, blockIdx;
inline uint3e blockDim, gridDim;
inline std::barrier<> *emu_block_barrier;
inline std::vector<std::barrier<> *> emu_warp_barriers;
inline uint64_t emu_slots[1024];

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(a, b)
#define __restrict__ __restrict
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
using std::max;
using std::min;

struct float4 { float x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
struct float2 { float x, y; };
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }

template <class T> T __shfl_xor_sync(unsigned, T v, int o) {
    static_assert(sizeof(T) <= 8, "8-byte shuffles at most");
    unsigned t = threadIdx.x, w = t / 32;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    emu_slots[t] = bits;
    emu_warp_barriers[w]->arrive_and_wait();
    uint64_t other = emu_slots[w * 32 + ((t % 32) ^ (unsigned)o)];
    emu_warp_barriers[w]->arrive_and_wait();
    T r;
    std::memcpy(&r, &other, sizeof(T));
    return r;
}

// ---------------------------------------------------------------------------
// CPU models of the tensor-core path's PTX (head.cu uses them when
// GRAFT_EMU is defined, its inline assembly otherwise).
#define GRAFT_EMU 1

// cp.async, strict: a copy is checked and its source read at issue, but
// it lands only at the cp.async.wait_group that retires its group (the
// latest a GPU could), and its destination is poisoned with NaN at issue
// (the earliest a GPU could write it). So a fragment read of a stage
// whose copies were not waited for (a wait count off by one, say) reads
// NaN, which the NaN-aware checks see, and a stage reloaded while another
// thread still reads it is a data race ThreadSanitizer sees, at the
// poisoning or at the landing. Both addresses must be 16-byte aligned
// (cp.async.cg of 16 bytes), zero-fills included. With EMU_STAGGER, odd
// warps sleep before they land their copies: a missing barrier between a
// wait and the reads of other threads' copies then reads the poison.
struct EmuCopy {
    void *dst;
    unsigned char data[16];
};
inline thread_local std::vector<EmuCopy> emu_cp_open;
inline thread_local std::deque<std::vector<EmuCopy>> emu_cp_groups;
constexpr uint32_t emu_poison = 0x7fbadbadu; // a NaN that no kernel computes

[[noreturn]] inline void emu_fail(const char *what, const void *p) {
    std::fprintf(stderr, "emu: thread %u of block (%u,%u,%u): %s (address %p)\n", threadIdx.x, blockIdx.x, blockIdx.y, blockIdx.z,
                 what, p);
    std::abort();
}
inline void cp_async16(void *smem, const void *gmem, bool valid) {
    if (reinterpret_cast<uintptr_t>(smem) % 16) emu_fail("cp.async destination not 16-byte aligned", smem);
    if (reinterpret_cast<uintptr_t>(gmem) % 16) emu_fail("cp.async source not 16-byte aligned", gmem);
    EmuCopy c{smem, {}};
    if (valid) std::memcpy(c.data, gmem, 16);
    for (int i = 0; i < 4; ++i) std::memcpy(static_cast<char *>(smem) + 4 * i, &emu_poison, 4);
    emu_cp_open.push_back(c);
}
inline void cp_async_commit() {
    emu_cp_groups.push_back(std::move(emu_cp_open));
    emu_cp_open.clear();
}
// cp.async.wait_group N: every committed group but the N most recent has
// landed (copies not yet committed stay in flight).
template <int N> void cp_async_wait() {
#ifdef EMU_STAGGER
    if ((threadIdx.x / 32) % 2) std::this_thread::sleep_for(std::chrono::milliseconds(2));
#endif
    while (emu_cp_groups.size() > (size_t)N) {
        for (const auto &c : emu_cp_groups.front()) std::memcpy(c.dst, c.data, 16);
        emu_cp_groups.pop_front();
    }
}
// A kernel must not end with copies in flight (their shared memory is
// gone; a later block's would be overwritten).
inline void emu_cp_check_drained() {
    if (!emu_cp_open.empty() || !emu_cp_groups.empty()) emu_fail("kernel ended with cp.async copies not waited for", nullptr);
}

// cvt.rn.bf16.f32: the high 16 bits, rounded to nearest with ties to even.
inline uint32_t bf16_rn(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u; // quiet NaN
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}
inline unsigned pack_bf16(float lo, float hi) { return bf16_rn(lo) | bf16_rn(hi) << 16; }

// cvt.rna.tf32.f32: to nearest with ties away from zero (half a TF32 ulp
// onto the magnitude, the low 13 bits dropped; past the largest TF32
// value that is Inf), Inf as it is, every NaN the canonical 0x7fffffff.
inline unsigned to_tf32(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffffffu;
    if ((u & 0x7fffffffu) == 0x7f800000u) return u;
    return (u + 0x1000u) & 0xffffe000u;
}

inline float emu_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline uint32_t emu_frags[1024][10];

// mma.sync m16n8k8 (TF32) and m16n8k16 (BF16), .row.col, f32 accumulate:
// the warp's lanes pool their fragments (PTX's layouts: groupID g =
// lane / 4, q = lane % 4), then each lane computes its four outputs
// (rows g and g + 8, columns 2q and 2q + 1): products of the rounded
// inputs, exact in float32, summed in K order in float32, rounded to
// nearest. (A GPU's tensor cores may truncate instead and sum in another
// order: docs/cuda.md bounds both.)
template <bool BF16> void emu_mma(float d[4], const unsigned a[4], const unsigned b[2]) {
    const unsigned t = threadIdx.x, w = t / 32, lane = t % 32;
    for (int i = 0; i < 4; ++i) emu_frags[t][i] = a[i];
    emu_frags[t][4] = b[0];
    emu_frags[t][5] = b[1];
    emu_warp_barriers[w]->arrive_and_wait();
    auto A = [&](int r, int k) -> float {
        if (!BF16) {
            // The tensor core reads the top 19 bits (TF32) and drops the
            // low 13 (to_tf32, cvt.rna, cleared them already).
            uint32_t reg = emu_frags[w * 32 + (r % 8) * 4 + k % 4][(r >= 8) + 2 * (k >= 4)];
            return emu_bits(reg & 0xffffe000u);
        }
        uint32_t reg = emu_frags[w * 32 + (r % 8) * 4 + (k % 8) / 2][(r >= 8) + 2 * (k >= 8)];
        return emu_bits(((reg >> (16 * (k % 2))) & 0xffffu) << 16);
    };
    auto B = [&](int k, int n) -> float {
        if (!BF16) return emu_bits(emu_frags[w * 32 + n * 4 + k % 4][4 + (k >= 4)] & 0xffffe000u);
        uint32_t reg = emu_frags[w * 32 + n * 4 + (k % 8) / 2][4 + (k >= 8)];
        return emu_bits(((reg >> (16 * (k % 2))) & 0xffffu) << 16);
    };
    const int g = lane / 4, q = lane % 4, K = BF16 ? 16 : 8;
    float out[4];
    for (int e = 0; e < 4; ++e) {
        const int r = g + 8 * (e / 2), n = 2 * q + e % 2;
        float acc = d[e];
        for (int k = 0; k < K; ++k) acc = acc + A(r, k) * B(k, n);
        out[e] = acc;
    }
    emu_warp_barriers[w]->arrive_and_wait();
    for (int e = 0; e < 4; ++e) d[e] = out[e];
}
inline void mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) { emu_mma<false>(d, a, b); }
inline void mma_bf16(float d[4], const unsigned a[4], const unsigned b[2]) { emu_mma<true>(d, a, b); }

// launch runs f over the grid, blocks in sequence, each block's threads at once.
template <class F> void launch(uint3e grid, unsigned block, F f) {
    gridDim = grid;
    blockDim = uint3e{block, 1, 1};
    for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
            for (unsigned x = 0; x < grid.x; ++x) {
                std::barrier<> bar((std::ptrdiff_t)block);
                emu_block_barrier = &bar;
                std::vector<std::barrier<> *> warps;
                for (unsigned w = 0; w < (block + 31) / 32; ++w)
                    warps.push_back(new std::barrier<>((std::ptrdiff_t)std::min(32u, block - 32 * w)));
                emu_warp_barriers = warps;
                std::vector<std::thread> ts;
                for (unsigned t = 0; t < block; ++t)
                    ts.emplace_back([=] {
                        threadIdx = uint3e{t, 0, 0};
                        blockIdx = uint3e{x, y, z};
                        f();
                        emu_cp_check_drained();
                    });
                for (auto &t : ts) t.join();
                for (auto *w : warps) delete w;
            }
}
