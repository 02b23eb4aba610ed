// Elementwise ops over flat float32 arrays (grid-stride loops).
#include "swiglu.cuh"

#define GRID_STRIDE(i, count) \
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (count); i += gridDim.x * blockDim.x)

__device__ __forceinline__ float gelu_tanh_of(float x) {
    const float sqrt_2_over_pi = 0.7978845608028654f;
    return 0.5f * x * (1.f + tanhf(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
}

extern "C" __global__ void gelu_tanh(const float* x, float* out, int count) {
    GRID_STRIDE(i, count) out[i] = gelu_tanh_of(x[i]);
}

// out = gelu_tanh(x + b[i % d]): fc1's bias and the activation in one pass.
extern "C" __global__ void add_bias_gelu(const float* x, const float* __restrict__ b,
                                         float* out, int count, int d) {
    GRID_STRIDE(i, count) out[i] = gelu_tanh_of(x[i] + b[i % d]);
}

extern "C" __global__ void add(const float* a, const float* b, float* out, int count) {
    GRID_STRIDE(i, count) out[i] = a[i] + b[i];
}

extern "C" __global__ void add_bias(const float* x, const float* __restrict__ b, float* out, int count, int d) {
    GRID_STRIDE(i, count) out[i] = x[i] + b[i % d];
}

// out[r, c] = x[r, col0 + c]: one piece of split_columns (q, k or v of one stacked product).
extern "C" __global__ void copy_columns(const float* __restrict__ x, float* __restrict__ out, int count,
                                        int src_cols, int col0, int width) {
    GRID_STRIDE(i, count) out[i] = x[(i / width) * src_cols + col0 + i % width];
}

// out[i, c] = x[i, c] + table[positions[i], c]
extern "C" __global__ void add_position_embedding(const float* x, const float* __restrict__ table,
                                                  const int* __restrict__ positions, float* out,
                                                  int count, int d) {
    GRID_STRIDE(i, count) out[i] = x[i] + table[(size_t)positions[i / d] * d + i % d];
}

extern "C" __global__ void swiglu_oai(const float* gate, const float* up,
                                      float* out, int count, float alpha, float limit) {
    GRID_STRIDE(i, count) out[i] = swiglu_oai_of(gate[i], up[i], alpha, limit);
}

// out[i, c] = sum_j weights[i, j] * y[i, j, c]   (y: [n, k, d])
extern "C" __global__ void moe_combine(const float* __restrict__ y, const float* __restrict__ weights,
                                       float* __restrict__ out, int count, int k, int d) {
    GRID_STRIDE(i, count) {
        const int token = i / d, c = i % d;
        const float* y_token = y + (size_t)token * k * d + c;
        float acc = 0.f;
        for (int j = 0; j < k; ++j) acc += weights[token * k + j] * y_token[(size_t)j * d];
        out[i] = acc;
    }
}

// p[i] += by for every i < count (a decode step's positions, moved on by the device).
extern "C" __global__ void advance_i32(int* p, int count, int by) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) p[i] += by;
}
