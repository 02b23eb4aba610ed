// Q4_K: 256 weights in 144 bytes: fp16 d, fp16 dmin, 12 bytes of eight 6-bit (scale, min) pairs,
// 128 bytes of 4-bit q. Byte l of 32-byte chunk c holds weight 64c + l (low nibble, sub-block 2c)
// and weight 64c + 32 + l (high nibble, sub-block 2c + 1). w = (d * sc_j) * q - (dmin * m_j).
#include "q8_matmul.cuh"

struct Q4_K {
    static constexpr int QK = 256, BYTES = 144, GW = 8, NG = QK / GW, TILE_K = 64;

    // 6-bit scale and min of sub-block j from the 12 packed bytes (block bytes 4-15) as three words:
    // byte i of `scales` and `mins` holds sub-block i's scale and min in its low 6 bits and the top 2
    // bits of sub-block 4 + i's in its high 2, byte i of `low4` the low 4 bits of sub-block 4 + i's
    // scale (low nibble) and min (high nibble). Picked with selects, not a branch on j: where j
    // differs between the lanes of a warp, as in the prefill matmul's unpacking (a lane a sub-block),
    // a branch ran both sides.
    static __device__ __forceinline__ void scale_min(uint32_t scales, uint32_t mins, uint32_t low4, int j,
                                                     float& sc, float& m) {
        const int shift = 8 * (j & 3);
        const uint32_t s = scales >> shift, n = mins >> shift, packed = low4 >> shift;
        sc = (float)(j < 4 ? s & 63 : (packed & 15) | ((s >> 2) & 0x30));
        m = (float)(j < 4 ? n & 63 : ((packed >> 4) & 15) | ((n >> 2) & 0x30));
    }
    // Sub-blocks j and j + 1 (j even) of the block at blk, 4-byte aligned.
    static __device__ __forceinline__ void scale_min_pair(const uint8_t* blk, int j, float& sc0, float& m0,
                                                          float& sc1, float& m1) {
        const uint32_t scales = plugrt::ld_u32(blk + 4), mins = plugrt::ld_u32(blk + 8);
        const uint32_t low4 = plugrt::ld_u32(blk + 12);
        scale_min(scales, mins, low4, j, sc0, m0);
        scale_min(scales, mins, low4, j + 1, sc1, m1);
    }
    // Group g: chunk c = g / 8, bytes l0..l0+3 with l0 = 4 (g % 8): weights 64c + l0 + i and 64c + 32 + l0 + i.
    static __device__ __forceinline__ void decode(const uint8_t* blk, int g, float v[GW]) {
        const float d = plugrt::ld_half(blk), dmin = plugrt::ld_half(blk + 2);
        const int c = g >> 3, l0 = (g & 7) * 4;
        float sc0, m0, sc1, m1;
        scale_min_pair(blk, 2 * c, sc0, m0, sc1, m1);
        const float d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1;
        const uint32_t q = plugrt::ld_u32(blk + 16 + 32 * c + l0);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            v[i] = d0 * (float)((q >> (8 * i)) & 15) - dm0;
            v[4 + i] = d1 * (float)((q >> (8 * i + 4)) & 15) - dm1;
        }
    }
    static __device__ __forceinline__ int run_start(int g, int r) { return 64 * (g >> 3) + (g & 7) * 4 + 32 * r; }

    // Group g as in decode, with the nibbles turned into exact floats by plugrt::byte_to_float and the
    // mins applied once per 4 weights: (d sc) (q . x) - (dmin m) (sum of x).
    template <int NR>
    static __device__ __forceinline__ void dot(const uint8_t* blk, int g, const float4 (&xv)[NR][GW / 4],
                                               float (&acc)[NR]) {
        const float d = plugrt::ld_half(blk), dmin = plugrt::ld_half(blk + 2);
        const int c = g >> 3, l0 = (g & 7) * 4;
        float sc0, m0, sc1, m1;
        scale_min_pair(blk, 2 * c, sc0, m0, sc1, m1);
        const uint32_t q = plugrt::ld_u32(blk + 16 + 32 * c + l0);
        const uint32_t lo = q & 0x0F0F0F0Fu, hi = (q >> 4) & 0x0F0F0F0Fu;
        const float a0 = plugrt::byte_to_float<0>(lo), a1 = plugrt::byte_to_float<1>(lo);
        const float a2 = plugrt::byte_to_float<2>(lo), a3 = plugrt::byte_to_float<3>(lo);
        const float b0 = plugrt::byte_to_float<0>(hi), b1 = plugrt::byte_to_float<1>(hi);
        const float b2 = plugrt::byte_to_float<2>(hi), b3 = plugrt::byte_to_float<3>(hi);
        const float d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1;
#pragma unroll
        for (int i = 0; i < NR; ++i) {
            const float4 x0 = xv[i][0], x1 = xv[i][1];
            acc[i] += d0 * plugrt::dot4(x0, a0, a1, a2, a3) - dm0 * ((x0.x + x0.y) + (x0.z + x0.w)) +
                      d1 * plugrt::dot4(x1, b0, b1, b2, b3) - dm1 * ((x1.x + x1.y) + (x1.z + x1.w));
        }
    }

    // Unit u = sub-block u: the low (u even) or high (u odd) nibbles of chunk u / 2, whose bytes are
    // 4-byte aligned as in decode.
    static constexpr int UNITS = QK / 32;
    static constexpr bool HAS_MIN = true;
    // Unit u's weight scale d * sc_u and min dmin * m_u, from the block's first 16 bytes in one load
    // (16-byte aligned: 144-byte blocks, rows of whole blocks, staged at their address modulo 16).
    static __device__ __forceinline__ void unit_scales(const uint8_t* blk, int u, float& d, float& m) {
        const uint4 head = *reinterpret_cast<const uint4*>(blk);  // d, dmin; scale bytes 0-3, 4-7, 8-11
        float sc, mn;
        scale_min(head.y, head.z, head.w, u, sc, mn);
        const float2 dm = __half22float2(*reinterpret_cast<const __half2*>(&head.x));
        d = dm.x * sc;
        m = dm.y * mn;
    }
    // q[i] = nibbles(word i) for the eight words of the 32-byte chunk that holds unit u (chunk u / 2),
    // read in two 16-byte loads (blocks are 16-byte aligned, as in unit_scales).
    template <class Word, class Nibbles>
    static __device__ __forceinline__ void chunk_words(const uint8_t* blk, int u, Word (&q)[8], Nibbles nibbles) {
        const uint4* qs = reinterpret_cast<const uint4*>(blk + 16 + 32 * (u >> 1));
        const uint4 lo = qs[0], hi = qs[1];
        const uint32_t words[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
        for (int i = 0; i < 8; ++i) q[i] = (Word)nibbles(words[i]);
    }
    static __device__ __forceinline__ void unpack_q8(const uint8_t* blk, int u, int (&q)[8], float& d, float& m) {
        const int shift = 4 * (u & 1);
        chunk_words(blk, u, q, [&](uint32_t w) { return (w >> shift) & 0x0F0F0F0Fu; });
        unit_scales(blk, u, d, m);
    }
};

// Decode products: a unit's nibbles stay where they are, the other nibble of each byte masked off,
// so an odd unit's weights come 16 times too large (dot against the activations as unsigned bytes)
// and its d 16 times too small, which is exact. Its scale and min come from the block's first 16
// bytes in one load.
template <>
struct plugrt::Q8Unit<Q4_K> {
    uint32_t q[8];
    float d, m;
    struct Table {};
    static __device__ __forceinline__ Table table() { return {}; }
    static __device__ __forceinline__ void arrange(Q8Activation&) {}
    __device__ __forceinline__ void load(const uint8_t* blk, int u) {
        const uint32_t mask = 0x0F0F0F0Fu << (4 * (u & 1));
        Q4_K::chunk_words(blk, u, q, [&](uint32_t w) { return w & mask; });
        Q4_K::unit_scales(blk, u, d, m);
        d *= (u & 1) ? 0.0625f : 1.f;
    }
    __device__ __forceinline__ int dot(int4 a, int4 b, Table) const {
        const int x[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
        int s = 0;
#pragma unroll
        for (int i = 0; i < 8; ++i) asm("dp4a.u32.s32 %0, %1, %2, %0;" : "+r"(s) : "r"(q[i]), "r"(x[i]));
        return s;
    }
};

PLUGRT_QUANT_KERNELS(q4_k, Q4_K)
// matvec_q8_paired at 72 registers (see PairedMinBlocks)
template <>
struct plugrt::PairedMinBlocks<Q4_K> {
    static constexpr int value = 7;
};

PLUGRT_Q8_KERNELS(q4_k, Q4_K)
PLUGRT_Q8_MATMUL_KERNELS(q4_k, Q4_K)
