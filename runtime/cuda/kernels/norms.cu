// Row normalisations: one thread block per row, block-wide warp-shuffle reductions.
#include "common.cuh"

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
