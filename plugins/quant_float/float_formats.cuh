// Plain float weights as "blocks" of 4 consecutive values, so the generic kernels serve them too.
#pragma once
#include "quant_kernels.cuh"

struct F32 {
    static constexpr int QK = 4, BYTES = 16, GW = 4, NG = 1, TILE_K = 64;
    static __device__ __forceinline__ void decode(const uint8_t* blk, int, float v[GW]) {
        const float4 f = *reinterpret_cast<const float4*>(blk);
        v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
    }
    static __device__ __forceinline__ int run_start(int, int) { return 0; }
    template <int NR>
    static __device__ __forceinline__ void dot(const uint8_t* blk, int g, const float4 (&xv)[NR][GW / 4],
                                               float (&acc)[NR]) {
        plugrt::dot_decoded<F32, NR>(blk, g, xv, acc);
    }
};

struct F16 {
    static constexpr int QK = 4, BYTES = 8, GW = 4, NG = 1, TILE_K = 64;
    static __device__ __forceinline__ void decode(const uint8_t* blk, int, float v[GW]) {
        const uint2 u = *reinterpret_cast<const uint2*>(blk);
        const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&u.x));
        const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&u.y));
        v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y;
    }
    static __device__ __forceinline__ int run_start(int, int) { return 0; }
    template <int NR>
    static __device__ __forceinline__ void dot(const uint8_t* blk, int g, const float4 (&xv)[NR][GW / 4],
                                               float (&acc)[NR]) {
        plugrt::dot_decoded<F16, NR>(blk, g, xv, acc);
    }
};

struct BF16 {
    static constexpr int QK = 4, BYTES = 8, GW = 4, NG = 1, TILE_K = 64;
    static __device__ __forceinline__ void decode(const uint8_t* blk, int, float v[GW]) {
        const uint2 u = *reinterpret_cast<const uint2*>(blk);
        v[0] = __uint_as_float(u.x << 16); v[1] = __uint_as_float(u.x & 0xffff0000u);
        v[2] = __uint_as_float(u.y << 16); v[3] = __uint_as_float(u.y & 0xffff0000u);
    }
    static __device__ __forceinline__ int run_start(int, int) { return 0; }
    template <int NR>
    static __device__ __forceinline__ void dot(const uint8_t* blk, int g, const float4 (&xv)[NR][GW / 4],
                                               float (&acc)[NR]) {
        plugrt::dot_decoded<BF16, NR>(blk, g, xv, acc);
    }
};
