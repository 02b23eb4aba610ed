// Q5_0: 32 weights in 22 bytes: fp16 scale d, 32 high bits qh (uint32, bit j for weight j), then 16
// bytes whose byte j holds the low 4 bits of weight j (low nibble) and of weight j + 16 (high nibble).
// w = ((low | high << 4) - 16) * d.
#include "quant_kernels.cuh"

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
};

PLUGRT_QUANT_KERNELS(q5_0, Q5_0)
