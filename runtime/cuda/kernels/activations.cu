// Activations quantized to int8 for the int8-activation matvec kernels (see q8_activations.cuh).
#include "pdl.cuh"
#include "q8_activations.cuh"

// Rows of a multiple of 32 values: one warp per 32 values. It must not wait in-kernel (pdl.cuh): it
// then starts only once every kernel before it has finished, which lets the expert product that
// reads its output read the expert ids before its own wait (ids_ready, runtime/backend/cuda.py).
extern "C" __global__ void quantize_q8(const float* __restrict__ x, int8_t* __restrict__ q, float2* __restrict__ ds,
                                       int n_units) {
    plugrt::allow_dependent_launch();  // the product that reads q and ds prefetches its weights meanwhile
    const int unit = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (unit >= n_units) return;
    quantize_unit_q8(x[(size_t)unit * 32 + (threadIdx.x & 31)], q + (size_t)unit * 32, ds + unit);
}
