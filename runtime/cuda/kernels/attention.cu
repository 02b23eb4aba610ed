// Causal attention over a (ring) KV cache, for prefill and decode, MHA and GQA, with optional sink
// logits and a sliding window. Tiled online softmax in fp32.
//
// Work split: a block serves one kv head and WARPS "rows", a row being one (query, query head of the
// kv head's group); for GQA the group's heads share every K/V tile the block loads. Each warp owns a row:
// lane j scores key j of the 32-key tile, and owns output dims lane, lane+32, ...
// The key range is split over gridDim.z blocks (flash decoding). With one split the kernel writes the
// final output; with several it writes unnormalised partials (acc, max, sum) that attention_combine
// merges. Key ranges come from the positions in device memory, so nothing per step is baked into a
// launch: query i at t = positions[i] sees keys max(0, t - window + 1) .. t, stored at row p % cap.
#include <climits>
#include "common.cuh"

constexpr int WARPS = 8;
constexpr int TILE = 32;
// Fewest keys a split takes: a decode step early in a long cache leaves the splits past the keys
// it has empty (they exit at once) instead of spreading a few keys over every split.
constexpr int MIN_KEYS_PER_SPLIT = 64;
// Most splits attention_combine merges (runtime/cuda/ops.py never asks for more).
constexpr int MAX_SPLITS = 512;

template <int DH>
__device__ __forceinline__ void attention_rows(const float* __restrict__ q, const float* __restrict__ k_cache,
                                               const float* __restrict__ v_cache,
                                               const int* __restrict__ positions, const float* __restrict__ sinks,
                                               float* __restrict__ out, float* __restrict__ partials, int n,
                                               int hq, int hkv, int cap, int window, float scale) {
    constexpr int STRIDE = DH + 4;  // padding keeps the per-lane float4 reads of a K row conflict-free
    constexpr int PER_LANE = DH / 32;
    __shared__ __align__(16) float k_tile[TILE * STRIDE];
    __shared__ __align__(16) float v_tile[TILE * STRIDE];
    __shared__ int block_first, block_last;

    const int group = hq / hkv;
    const int kv_head = blockIdx.y;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row = blockIdx.x * WARPS + warp;
    const bool active = row < n * group;
    const int token = active ? row / group : 0;
    const int head = kv_head * group + (active ? row % group : 0);

    const int last = positions[token];
    const int first = window > 0 ? max(0, last - window + 1) : 0;
    if (threadIdx.x == 0) {
        block_first = INT_MAX;
        block_last = -1;
    }
    __syncthreads();
    if (active && lane == 0) {
        atomicMin(&block_first, first);
        atomicMax(&block_last, last);
    }
    __syncthreads();
    const int span = block_last - block_first + 1;
    const int chunk = max((span + gridDim.z - 1) / gridDim.z, MIN_KEYS_PER_SPLIT);
    const int split_first = block_first + blockIdx.z * chunk;
    const int split_last = min(block_last, split_first + chunk - 1);

    float q_reg[DH];
    const float* q_row = q + ((size_t)token * hq + head) * DH;
#pragma unroll
    for (int d = 0; d < DH; ++d) q_reg[d] = q_row[d] * scale;

    float acc[PER_LANE];
#pragma unroll
    for (int c = 0; c < PER_LANE; ++c) acc[c] = 0.f;
    float running_max = -INFINITY, running_sum = 0.f;

    for (int tile_first = split_first; tile_first <= split_last; tile_first += TILE) {
        for (int e = threadIdx.x; e < TILE * DH / 4; e += blockDim.x) {
            const int j = e / (DH / 4), d4 = e % (DH / 4);
            const int p = tile_first + j;
            if (p <= split_last) {
                const size_t src = ((size_t)(p % cap) * hkv + kv_head) * DH;
                reinterpret_cast<float4*>(k_tile + j * STRIDE)[d4] = reinterpret_cast<const float4*>(k_cache + src)[d4];
                reinterpret_cast<float4*>(v_tile + j * STRIDE)[d4] = reinterpret_cast<const float4*>(v_cache + src)[d4];
            }
        }
        __syncthreads();
        const int p = tile_first + lane;
        const bool visible = active && p <= split_last && p >= first && p <= last;
        float score = -INFINITY;
        if (visible) {
            const float4* k_row = reinterpret_cast<const float4*>(k_tile + lane * STRIDE);
            float dot = 0.f;
#pragma unroll
            for (int d4 = 0; d4 < DH / 4; ++d4) {
                const float4 kv = k_row[d4];
                dot += q_reg[4 * d4] * kv.x + q_reg[4 * d4 + 1] * kv.y + q_reg[4 * d4 + 2] * kv.z +
                       q_reg[4 * d4 + 3] * kv.w;
            }
            score = dot;
        }
        const float tile_max = warp_max(score);
        if (tile_max != -INFINITY) {  // uniform across the warp
            const float new_max = fmaxf(running_max, tile_max);
            const float correction = running_max == -INFINITY ? 0.f : __expf(running_max - new_max);
            const float weight = visible ? __expf(score - new_max) : 0.f;
            running_sum = running_sum * correction + warp_sum(weight);
#pragma unroll
            for (int c = 0; c < PER_LANE; ++c) acc[c] *= correction;
            const int keys = min(TILE, split_last - tile_first + 1);
            for (int j = 0; j < keys; ++j) {
                const float w = __shfl_sync(PLUGRT_FULL_MASK, weight, j);
                if (w == 0.f) continue;  // masked key: its V row may be stale, and 0 * NaN is NaN
#pragma unroll
                for (int c = 0; c < PER_LANE; ++c) acc[c] += w * v_tile[j * STRIDE + lane + 32 * c];
            }
            running_max = new_max;
        }
        __syncthreads();
    }
    if (!active) return;

    const size_t out_row = (size_t)token * hq + head;
    if (gridDim.z == 1) {
        float denom = running_sum, factor = 1.f;
        if (sinks != nullptr) {
            const float new_max = fmaxf(running_max, sinks[head]);
            factor = __expf(running_max - new_max);
            denom = running_sum * factor + __expf(sinks[head] - new_max);
        }
        const float inv = factor / denom;
#pragma unroll
        for (int c = 0; c < PER_LANE; ++c) out[out_row * DH + lane + 32 * c] = acc[c] * inv;
    } else {
        const size_t part_row = (size_t)blockIdx.z * n * hq + out_row;
#pragma unroll
        for (int c = 0; c < PER_LANE; ++c) partials[part_row * DH + lane + 32 * c] = acc[c];
        if (lane == 0) {
            float* stats = partials + (size_t)gridDim.z * n * hq * DH + part_row * 2;
            stats[0] = running_max;
            stats[1] = running_sum;
        }
    }
}

#define ATTENTION_KERNEL(DH)                                                                                  \
    extern "C" __global__ void __launch_bounds__(WARPS * 32) attention_dh##DH(                              \
        const float* q, const float* k_cache, const float* v_cache, const int* positions, const float* sinks, \
        float* out, float* partials, int n, int hq, int hkv, int cap, int window, float scale) {             \
        attention_rows<DH>(q, k_cache, v_cache, positions, sinks, out, partials, n, hq, hkv, cap, window,     \
                           scale);                                                                            \
    }

ATTENTION_KERNEL(64)
ATTENTION_KERNEL(128)

// Merge the splits (at most MAX_SPLITS) of one (query, head): one block per row, one thread per
// output dim; the splits' (max, sum) pairs are read once into shared memory. Splits that saw no
// key carry max = -inf and sum = 0 and drop out.
extern "C" __global__ void attention_combine(const float* __restrict__ partials, const float* __restrict__ sinks,
                                             float* __restrict__ out, int rows, int hq, int dh, int splits) {
    __shared__ float2 split_stats[MAX_SPLITS];
    const int row = blockIdx.x, d = threadIdx.x;
    const float2* stats = reinterpret_cast<const float2*>(partials + (size_t)splits * rows * dh);
    for (int s = threadIdx.x; s < splits; s += blockDim.x) split_stats[s] = stats[(size_t)s * rows + row];
    __syncthreads();
    float peak = sinks != nullptr ? sinks[row % hq] : -INFINITY;
    for (int s = 0; s < splits; ++s) peak = fmaxf(peak, split_stats[s].x);
    float denom = sinks != nullptr ? __expf(sinks[row % hq] - peak) : 0.f;
    float acc = 0.f;
#pragma unroll 4
    for (int s = 0; s < splits; ++s) {
        const float2 st = split_stats[s];
        if (st.x == -INFINITY) continue;
        const float w = __expf(st.x - peak);
        denom += w * st.y;
        acc += w * partials[((size_t)s * rows + row) * dh + d];
    }
    out[(size_t)row * dh + d] = acc / denom;
}
