// Shared helpers for plugrt kernels: warp and block reductions over float32.
#pragma once

#define PLUGRT_FULL_MASK 0xffffffffu

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(PLUGRT_FULL_MASK, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(PLUGRT_FULL_MASK, v, offset));
    return v;
}

// (value, index) argmax across a warp; ties go to the lower index. Every lane gets the result.
__device__ __forceinline__ void warp_argmax(float& value, int& index) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        float other_value = __shfl_xor_sync(PLUGRT_FULL_MASK, value, offset);
        int other_index = __shfl_xor_sync(PLUGRT_FULL_MASK, index, offset);
        if (other_value > value || (other_value == value && other_index < index)) {
            value = other_value;
            index = other_index;
        }
    }
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the sum.
// Safe to call several times in a row: it synchronises before returning.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float warp_totals[32];
    __shared__ float total;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    if (lane == 0) warp_totals[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (int)(blockDim.x >> 5) ? warp_totals[lane] : 0.f;
        s = warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    const float result = total;
    __syncthreads();
    return result;
}
