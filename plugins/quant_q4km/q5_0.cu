// Q5_0: 32 weights in 22 bytes: fp16 scale d, 32 high bits qh (uint32, bit j for weight j), then 16
// bytes whose byte j holds the low 4 bits of weight j (low nibble) and of weight j + 16 (high nibble).
// w = ((low | high << 4) - 16) * d.
#include "q8_matmul.cuh"

struct Q5_0 {
    static constexpr int QK = 32, BYTES = 22, GW = 8, NG = QK / GW, TILE_K = 64;

    // Group g: bytes 4g..4g+3 -> weights 4g..4g+3 and 16+4g..16+4g+3.
    static __device__ __forceinline__ void decode(const uint8_t* blk, int g, float v[GW]) {
        const float d = plugrt::ld_half(blk);
        const uint32_t qh = plugrt::ld_u16(blk + 2) | (plugrt::ld_u16(blk + 4) << 16);
        const uint32_t qs = plugrt::ld_u16(blk + 6 + 4 * g) | (plugrt::ld_u16(blk + 8 + 4 * g) << 16);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int j = 4 * g + i;
            const uint32_t b = (qs >> (8 * i)) & 0xff;
            const int lo = (int)((b & 15) | (((qh >> j) & 1) << 4)) - 16;
            const int hi = (int)((b >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            v[i] = d * (float)lo;
            v[4 + i] = d * (float)hi;
        }
    }
    static __device__ __forceinline__ int run_start(int g, int r) { return 4 * g + 16 * r; }

    // Bit 8k of the result = bit k of the low 4 bits of b (k < 4).
    static __device__ __forceinline__ uint32_t spread4(uint32_t b) { return ((b & 15u) * 0x00204081u) & 0x01010101u; }
    // Group g: 5-bit values assembled four per word, then exact floats (plugrt::dot_byte_group).
    template <int NR>
    static __device__ __forceinline__ void dot(const uint8_t* blk, int g, const float4 (&xv)[NR][GW / 4],
                                               float (&acc)[NR]) {
        const uint32_t qh = plugrt::lds_u32_any(blk + 2), qs = plugrt::lds_u32_any(blk + 6 + 4 * g);
        const uint32_t lo = (qs & 0x0F0F0F0Fu) | (spread4(qh >> (4 * g)) << 4);
        const uint32_t hi = ((qs >> 4) & 0x0F0F0F0Fu) | (spread4(qh >> (16 + 4 * g)) << 4);
        plugrt::dot_byte_group<NR>(lo, hi, 16.f, plugrt::ld_half(blk), xv, acc);
    }

    // The 32 weights as int8 (value - 16): the low nibble, with 0xF0 above it where the high bit is
    // clear (n - 16 = n | 0xF0 as a byte for n < 16).
    static constexpr int UNITS = 1;
    static constexpr bool HAS_MIN = false;
    static __device__ __forceinline__ void unpack_q8(const uint8_t* blk, int, int (&q)[8], float& d, float& m) {
        const uint32_t clear = ~plugrt::lds_u32_any(blk + 2);
        int w[4];
        plugrt::lds_words_any<4>(blk + 6, w);
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            q[k] = (int)(((uint32_t)w[k] & 0x0F0F0F0Fu) | spread4(clear >> (4 * k)) * 0xF0u);
            q[4 + k] = (int)((((uint32_t)w[k] >> 4) & 0x0F0F0F0Fu) | spread4(clear >> (16 + 4 * k)) * 0xF0u);
        }
        d = plugrt::ld_half(blk);
        m = 0.f;
    }
};

PLUGRT_QUANT_KERNELS(q5_0, Q5_0)
PLUGRT_Q8_KERNELS(q5_0, Q5_0)
PLUGRT_Q8_MATMUL_KERNELS(q5_0, Q5_0)
