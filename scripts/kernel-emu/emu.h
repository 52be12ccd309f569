// emu.h: just enough of CUDA to run head.cu's kernels on the CPU, one
// std::thread per CUDA thread, blocks one after another, __syncthreads a
// block-wide barrier, warp shuffles through a per-warp barrier. It checks
// the kernels' indexing and arithmetic on hosts without a GPU; it says
// nothing about timing, memory-model races or the SASS.
#pragma once
#include <algorithm>
#include <barrier>
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
                    });
                for (auto &t : ts) t.join();
                for (auto *w : warps) delete w;
            }
}
