// Q8_0: 32 weights in 34 bytes: fp16 scale d, then 32 int8 q; w = q * d.
#include "q8_matmul.cuh"

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
    // float (plugrt::dot_byte_group).
    template <int NR>
    static __device__ __forceinline__ void dot(const uint8_t* blk, int g, const float4 (&xv)[NR][GW / 4],
                                               float (&acc)[NR]) {
        const uint8_t* p = blk + 2 + 8 * g;
        const uint32_t lo = plugrt::lds_u32_any(p) ^ 0x80808080u, hi = plugrt::lds_u32_any(p + 4) ^ 0x80808080u;
        plugrt::dot_byte_group<NR>(lo, hi, 128.f, plugrt::ld_half(blk), xv, acc);
    }

    static constexpr int UNITS = 1;
    static constexpr bool HAS_MIN = false;
    static __device__ __forceinline__ void unpack_q8(const uint8_t* blk, int, int (&q)[8], float& d, float& m) {
        plugrt::lds_words_any<8>(blk + 2, q);
        d = plugrt::ld_half(blk);
        m = 0.f;
    }
};

PLUGRT_QUANT_KERNELS(q8_0, Q8_0)
PLUGRT_Q8_KERNELS(q8_0, Q8_0)
PLUGRT_Q8_MATMUL_KERNELS(q8_0, Q8_0)
