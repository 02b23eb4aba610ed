// Row normalisations: one thread block per row, block-wide warp-shuffle reductions.
#include "common.cuh"
#include "q8_activations.cuh"

// out = x * rsqrt(mean(x^2) + eps) * w
extern "C" __global__ void rms_norm(const float* x, const float* __restrict__ w,
                                    float* out, int d, float eps) {
    const float* row = x + (size_t)blockIdx.x * d;
    float* dst = out + (size_t)blockIdx.x * d;
    float squares = 0.f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) squares += row[c] * row[c];
    const float inv = rsqrtf(block_sum(squares) / d + eps);
    for (int c = threadIdx.x; c < d; c += blockDim.x) dst[c] = row[c] * inv * w[c];
}

// rms_norm, and its output quantized to int8 for the products that read it (d a multiple of 32 and
// blockDim.x of 32: each warp's 32 consecutive values are one unit).
extern "C" __global__ void rms_norm_q8(const float* x, const float* __restrict__ w, float* out,
                                       int8_t* __restrict__ q, float2* __restrict__ ds, int d, float eps) {
    const float* row = x + (size_t)blockIdx.x * d;
    float* dst = out + (size_t)blockIdx.x * d;
    float squares = 0.f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) squares += row[c] * row[c];
    const float inv = rsqrtf(block_sum(squares) / d + eps);
    for (int c = threadIdx.x; c < d; c += blockDim.x) {  // warp-uniform: d is a multiple of 32
        const float v = row[c] * inv * w[c];
        dst[c] = v;
        const size_t unit_start = (size_t)blockIdx.x * d + (c & ~31);
        quantize_unit_q8(v, q + unit_start, ds + unit_start / 32);
    }
}

// out = (x - mean) * rsqrt(var + eps) * w + b, with the variance taken around the mean (second pass).
extern "C" __global__ void layer_norm(const float* x, const float* __restrict__ w,
                                      const float* __restrict__ b, float* out, int d, float eps) {
    const float* row = x + (size_t)blockIdx.x * d;
    float* dst = out + (size_t)blockIdx.x * d;
    float sum = 0.f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) sum += row[c];
    const float mean = block_sum(sum) / d;
    float squares = 0.f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        const float centred = row[c] - mean;
        squares += centred * centred;
    }
    const float inv = rsqrtf(block_sum(squares) / d + eps);
    for (int c = threadIdx.x; c < d; c += blockDim.x) dst[c] = (row[c] - mean) * inv * w[c] + b[c];
}
