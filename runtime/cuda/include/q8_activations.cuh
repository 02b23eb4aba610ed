// Activations quantized to int8 for the int8-activation kernels (quant_kernels.cuh, q8_matmul.cuh):
// per 32 values, dx = max|x| / 127 rounded up to 22 significant bits, q = rint(x / dx) (0 where dx is
// 0) and ds = (dx, dx * sum q). The 22 bits make 1.5 * 2^23 * dx exact in fp32 (q8_matmul.cuh).
#pragma once
#include <stdint.h>
#include "common.cuh"

// x (>= 0, finite) rounded up to a significand whose two lowest bits are zero.
__device__ __forceinline__ float round_up_22_bits(float x) { return __uint_as_float((__float_as_uint(x) + 3u) & ~3u); }

// Called by a whole warp with lane i holding value i of a unit: writes q[i] and, from lane 0, *ds.
__device__ __forceinline__ void quantize_unit_q8(float v, int8_t* q, float2* ds) {
    const int lane = threadIdx.x & 31;
    const float d = round_up_22_bits(warp_max(fabsf(v)) / 127.f);
    const int qi = d > 0.f ? __float2int_rn(v / d) : 0;
    q[lane] = (int8_t)qi;
    const int sum = __reduce_add_sync(PLUGRT_FULL_MASK, qi);
    if (lane == 0) *ds = make_float2(d, d * (float)sum);
}
