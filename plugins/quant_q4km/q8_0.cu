// Q8_0: 32 weights in 34 bytes: fp16 scale d, then 32 int8 q; w = q * d.
#include "quant_kernels.cuh"

struct Q8_0 {
    static constexpr int QK = 32, BYTES = 34, GW = 8, NG = QK / GW, TILE_K = 64;

    // Group g: weights 8g..8g+7. Blocks are 2-byte aligned, so the bytes come as 16-bit loads.
    static __device__ __forceinline__ void decode(const uint8_t* blk, int g, float v[GW]) {
        const float d = plugrt::ld_half(blk);
        const uint8_t* q = blk + 2 + 8 * g;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const uint32_t pair = plugrt::ld_u16(q + 2 * i);
            v[2 * i] = (float)(int8_t)(pair & 0xff) * d;
            v[2 * i + 1] = (float)(int8_t)(pair >> 8) * d;
        }
    }
    static __device__ __forceinline__ int run_start(int g, int r) { return 8 * g + 4 * r; }

    // Group g: bytes 2 + 8g .. 9 + 8g (2-byte aligned). Biased by 128, each byte becomes an exact
    // float through plugrt::byte_to_float.
    template <int NR>
    static __device__ __forceinline__ void dot(const uint8_t* blk, int g, const float4 (&xv)[NR][GW / 4],
                                               float (&acc)[NR]) {
        const uint8_t* p = blk + 2 + 8 * g;
        const uint32_t lo = plugrt::lds_u32_any(p) ^ 0x80808080u, hi = plugrt::lds_u32_any(p + 4) ^ 0x80808080u;
        float v[GW];
        v[0] = plugrt::byte_to_float<0>(lo, 128.f);
        v[1] = plugrt::byte_to_float<1>(lo, 128.f);
        v[2] = plugrt::byte_to_float<2>(lo, 128.f);
        v[3] = plugrt::byte_to_float<3>(lo, 128.f);
        v[4] = plugrt::byte_to_float<0>(hi, 128.f);
        v[5] = plugrt::byte_to_float<1>(hi, 128.f);
        v[6] = plugrt::byte_to_float<2>(hi, 128.f);
        v[7] = plugrt::byte_to_float<3>(hi, 128.f);
        const float d = plugrt::ld_half(blk);
#pragma unroll
        for (int i = 0; i < NR; ++i)
            acc[i] += d * (plugrt::dot4(xv[i][0], v[0], v[1], v[2], v[3]) + plugrt::dot4(xv[i][1], v[4], v[5], v[6], v[7]));
    }

    static constexpr int UNITS = 1;
    static __device__ __forceinline__ void unpack_q8(const uint8_t* blk, int, int (&q)[8], float& d, float& m) {
        plugrt::lds_words_any<8>(blk + 2, q);
        d = plugrt::ld_half(blk);
        m = 0.f;
    }
};

PLUGRT_QUANT_KERNELS(q8_0, Q8_0)
PLUGRT_Q8_KERNELS(q8_0, Q8_0)
