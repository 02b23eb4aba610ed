// Q4_K: 256 weights in 144 bytes: fp16 d, fp16 dmin, 12 bytes of eight 6-bit (scale, min) pairs,
// 128 bytes of 4-bit q. Byte l of 32-byte chunk c holds weight 64c + l (low nibble, sub-block 2c)
// and weight 64c + 32 + l (high nibble, sub-block 2c + 1). w = (d * sc_j) * q - (dmin * m_j).
#include "quant_kernels.cuh"

struct Q4_K {
    static constexpr int QK = 256, BYTES = 144, GW = 8, NG = QK / GW, TILE_K = 64;

    // 6-bit scale and min of sub-block j from the packed 12 bytes s.
    static __device__ __forceinline__ void scale_min(const uint8_t* s, int j, float& sc, float& m) {
        if (j < 4) {
            sc = (float)(s[j] & 63);
            m = (float)(s[j + 4] & 63);
        } else {
            sc = (float)((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
            m = (float)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
        }
    }
    // Group g: chunk c = g / 8, bytes l0..l0+3 with l0 = 4 (g % 8): weights 64c + l0 + i and 64c + 32 + l0 + i.
    static __device__ __forceinline__ void decode(const uint8_t* blk, int g, float v[GW]) {
        const float d = plugrt::ld_half(blk), dmin = plugrt::ld_half(blk + 2);
        const int c = g >> 3, l0 = (g & 7) * 4;
        float sc0, m0, sc1, m1;
        scale_min(blk + 4, 2 * c, sc0, m0);
        scale_min(blk + 4, 2 * c + 1, sc1, m1);
        const float d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1;
        const uint32_t q = plugrt::ld_u32(blk + 16 + 32 * c + l0);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            v[i] = d0 * (float)((q >> (8 * i)) & 15) - dm0;
            v[4 + i] = d1 * (float)((q >> (8 * i + 4)) & 15) - dm1;
        }
    }
    static __device__ __forceinline__ int run_start(int g, int r) { return 64 * (g >> 3) + (g & 7) * 4 + 32 * r; }
};

PLUGRT_QUANT_KERNELS(q4_k, Q4_K)
