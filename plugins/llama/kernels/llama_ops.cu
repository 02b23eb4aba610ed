// The llama plugin's kernels; NumPy twins in plugins/llama/ops_ref.py.
#include <math.h>
#include "common.cuh"

#define GRID_STRIDE(i, count) \
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (count); i += gridDim.x * blockDim.x)

// silu(gate) * up
extern "C" __global__ void swiglu(const float* gate, const float* up, float* out, int count) {
    GRID_STRIDE(i, count) {
        const float g = gate[i];
        out[i] = g / (1.f + expf(-g)) * up[i];
    }
}

// gelu_tanh(gate) * up
extern "C" __global__ void geglu(const float* gate, const float* up, float* out, int count) {
    const float sqrt_2_over_pi = 0.7978845608028654f;
    GRID_STRIDE(i, count) {
        const float g = gate[i];
        out[i] = 0.5f * g * (1.f + tanhf(sqrt_2_over_pi * (g + 0.044715f * g * g * g))) * up[i];
    }
}

extern "C" __global__ void scale(const float* x, float* out, int count, float factor) {
    GRID_STRIDE(i, count) out[i] = x[i] * factor;
}

// Causal attention for wide heads (DH a multiple of 32; Gemma 3: 256), no sinks.
// One block per (query, query head). Each warp walks every WIDE_WARPS-th visible key with its own
// online softmax (lane owns dims lane, lane+32, ...), then the warps' partial results are merged.
// Key ranges come from positions in device memory: query i at t = positions[i] sees keys
// max(0, t - window + 1) .. t (window 0: 0 .. t), stored at row p % cap; GQA head h reads kv head h / group.
constexpr int WIDE_WARPS = 8;

template <int DH>
__device__ __forceinline__ void attention_wide_row(const float* __restrict__ q, const float* __restrict__ k_cache,
                                                   const float* __restrict__ v_cache,
                                                   const int* __restrict__ positions, float* __restrict__ out,
                                                   int hq, int hkv, int cap, int window, float scale) {
    constexpr int PER_LANE = DH / 32;
    __shared__ float warp_max_of[WIDE_WARPS], warp_sum_of[WIDE_WARPS];
    __shared__ float warp_acc[WIDE_WARPS][DH];

    const int row = blockIdx.x, token = row / hq, head = row % hq;
    const int kv_head = head / (hq / hkv);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int last = positions[token];
    const int first = window > 0 ? max(0, last - window + 1) : 0;

    float q_reg[PER_LANE], acc[PER_LANE];
    const float* q_row = q + (size_t)row * DH;
#pragma unroll
    for (int c = 0; c < PER_LANE; ++c) {
        q_reg[c] = q_row[lane + 32 * c] * scale;
        acc[c] = 0.f;
    }
    float running_max = -INFINITY, running_sum = 0.f;
    for (int p = first + warp; p <= last; p += WIDE_WARPS) {
        const size_t base = ((size_t)(p % cap) * hkv + kv_head) * DH;
        float dot = 0.f;
#pragma unroll
        for (int c = 0; c < PER_LANE; ++c) dot += q_reg[c] * k_cache[base + lane + 32 * c];
        const float score = warp_sum(dot);
        const float new_max = fmaxf(running_max, score);
        const float correction = __expf(running_max - new_max);  // 0 on the first key
        const float weight = __expf(score - new_max);
        running_sum = running_sum * correction + weight;
#pragma unroll
        for (int c = 0; c < PER_LANE; ++c) acc[c] = acc[c] * correction + weight * v_cache[base + lane + 32 * c];
        running_max = new_max;
    }
    if (lane == 0) {
        warp_max_of[warp] = running_max;
        warp_sum_of[warp] = running_sum;
    }
#pragma unroll
    for (int c = 0; c < PER_LANE; ++c) warp_acc[warp][lane + 32 * c] = acc[c];
    __syncthreads();

    float peak = -INFINITY;
    for (int w = 0; w < WIDE_WARPS; ++w) peak = fmaxf(peak, warp_max_of[w]);
    float denom = 0.f;
    for (int w = 0; w < WIDE_WARPS; ++w)
        if (warp_max_of[w] != -INFINITY) denom += __expf(warp_max_of[w] - peak) * warp_sum_of[w];
    for (int d = threadIdx.x; d < DH; d += blockDim.x) {
        float num = 0.f;
        for (int w = 0; w < WIDE_WARPS; ++w)
            if (warp_max_of[w] != -INFINITY) num += __expf(warp_max_of[w] - peak) * warp_acc[w][d];
        out[(size_t)row * DH + d] = num / denom;
    }
}

#define ATTENTION_WIDE_KERNEL(DH)                                                                            \
    extern "C" __global__ void __launch_bounds__(WIDE_WARPS * 32) attention_wide_dh##DH(                   \
        const float* q, const float* k_cache, const float* v_cache, const int* positions, float* out,       \
        int hq, int hkv, int cap, int window, float scale) {                                                \
        attention_wide_row<DH>(q, k_cache, v_cache, positions, out, hq, hkv, cap, window, scale);          \
    }

ATTENTION_WIDE_KERNEL(256)
