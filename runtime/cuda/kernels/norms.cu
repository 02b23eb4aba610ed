// Row normalisations: one thread block per row, block-wide warp-shuffle reductions.
#include "common.cuh"
#include "pdl.cuh"
#include "q8_activations.cuh"

// One row: out = s * rsqrt(mean(s^2) + eps) * w with s = x, or s = x + y written to sum where y is
// given; where q is given, out quantized to int8 too for the products that read it (d a multiple
// of 32 and blockDim.x of 32: each warp's 32 consecutive values are one unit).
__device__ __forceinline__ void rms_norm_row(const float* x, const float* y, float* sum, const float* __restrict__ w,
                                             float* out, int8_t* __restrict__ q, float2* __restrict__ ds, int d,
                                             float eps) {
    plugrt::allow_dependent_launch();  // the products that read the norm prefetch their weights meanwhile
    const size_t start = (size_t)blockIdx.x * d;
    const float* row = x + start;
    float squares = 0.f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        float s = row[c];
        if (y != nullptr) {
            s += y[start + c];
            sum[start + c] = s;
        }
        squares += s * s;
    }
    const float inv = rsqrtf(block_sum(squares) / d + eps);
    for (int c = threadIdx.x; c < d; c += blockDim.x) {  // warp-uniform: d is a multiple of 32 where q is given
        const float v = (y != nullptr ? row[c] + y[start + c] : row[c]) * inv * w[c];
        out[start + c] = v;
        if (q != nullptr) quantize_unit_q8(v, q + start + (c & ~31), ds + (start + (c & ~31)) / 32);
    }
}

// out = x * rsqrt(mean(x^2) + eps) * w
extern "C" __global__ void rms_norm(const float* x, const float* __restrict__ w, float* out, int d, float eps) {
    rms_norm_row(x, nullptr, nullptr, w, out, nullptr, nullptr, d, eps);
}

// rms_norm, and its output quantized to int8 (q, ds).
extern "C" __global__ void rms_norm_q8(const float* x, const float* __restrict__ w, float* out,
                                       int8_t* __restrict__ q, float2* __restrict__ ds, int d, float eps) {
    rms_norm_row(x, nullptr, nullptr, w, out, q, ds, d, eps);
}

// sum = x + y and out = rms_norm(sum), quantized into (q, ds) where q is given: a residual add and
// the next norm in one pass.
extern "C" __global__ void add_rms_norm(const float* x, const float* y, float* sum, const float* __restrict__ w,
                                        float* out, int8_t* __restrict__ q, float2* __restrict__ ds, int d, float eps) {
    rms_norm_row(x, y, sum, w, out, q, ds, d, eps);
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
