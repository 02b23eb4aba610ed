// Q6_K: 256 weights in 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), 16 int8 scales, fp16 d.
// In half h (128 weights), weight h*128 + 32k + l (k < 4, l < 32) takes its low bits from
// ql[h*64 + l + 32 (k & 1)] (low nibble for k < 2, high for k >= 2) and its high bits from bits
// 2k..2k+1 of qh[h*32 + l]; w = (d * scale[(h*128 + 32k + l) / 16]) * (q - 32).
#include "quant_kernels.cuh"

struct Q6_K {
    static constexpr int QK = 256, BYTES = 210, GW = 16, NG = QK / GW, TILE_K = 128;

    // Group g: half h = g / 8, l0 = 4 (g % 8): weights h*128 + 32k + l0 + i for k < 4, i < 4.
    static __device__ __forceinline__ void decode(const uint8_t* blk, int g, float v[GW]) {
        const int h = g >> 3, l0 = (g & 7) * 4;
        const float d = plugrt::ld_half(blk + 208);
        const int8_t* scales = reinterpret_cast<const int8_t*>(blk + 192);
        const uint8_t* ql = blk + h * 64 + l0;
        const uint32_t lo0 = plugrt::ld_u16(ql) | (plugrt::ld_u16(ql + 2) << 16);
        const uint32_t lo1 = plugrt::ld_u16(ql + 32) | (plugrt::ld_u16(ql + 34) << 16);
        const uint8_t* qh = blk + 128 + h * 32 + l0;
        const uint32_t hi = plugrt::ld_u16(qh) | (plugrt::ld_u16(qh + 2) << 16);
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const uint32_t lo = (k & 1) ? lo1 : lo0;
            const float dk = d * (float)scales[h * 8 + 2 * k + (l0 >> 4)];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int q = (int)(((lo >> (8 * i + 4 * (k >> 1))) & 15) | (((hi >> (8 * i + 2 * k)) & 3) << 4)) - 32;
                v[4 * k + i] = dk * (float)q;
            }
        }
    }
    static __device__ __forceinline__ int run_start(int g, int r) { return (g >> 3) * 128 + 32 * r + (g & 7) * 4; }
    template <int NR>
    static __device__ __forceinline__ void dot(const uint8_t* blk, int g, const float4 (&xv)[NR][GW / 4],
                                               float (&acc)[NR]) {
        plugrt::dot_decoded<Q6_K, NR>(blk, g, xv, acc);
    }
};

PLUGRT_QUANT_KERNELS(q6_k, Q6_K)
