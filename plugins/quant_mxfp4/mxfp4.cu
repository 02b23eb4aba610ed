// MXFP4 (ggml type 39): 32 weights in 17 bytes: E8M0 exponent e, then 16 bytes whose byte j holds
// weight j (low nibble) and weight j + 16 (high nibble). Nibble -> twice the E2M1 value, times 2^(e - 128).
#include "quant_kernels.cuh"

struct MXFP4 {
    static constexpr int QK = 32, BYTES = 17, GW = 8, NG = QK / GW, TILE_K = 64;

    // 2^(e - 128), as ggml_e8m0_to_fp32_half.
    static __device__ __forceinline__ float scale(uint32_t e) {
        return __uint_as_float(e < 2 ? 0x00200000u << e : (e - 1) << 23);
    }
    // Doubled E2M1 value of nibble q: magnitudes {0,1,2,3,4,6,8,12} packed one per nibble.
    static __device__ __forceinline__ float value(uint32_t q) {
        const float mag = (float)((0xC8643210u >> ((q & 7) * 4)) & 15);
        return (q & 8) ? -mag : mag;
    }
    // Group g: bytes 4g..4g+3 -> weights 4g..4g+3 (low nibbles) and 16+4g..16+4g+3 (high nibbles).
    static __device__ __forceinline__ void decode(const uint8_t* blk, int g, float v[GW]) {
        const float d = scale(blk[0]);
        const uint8_t* q = blk + 1 + 4 * g;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const uint32_t b = q[i];
            v[i] = d * value(b & 15);
            v[4 + i] = d * value(b >> 4);
        }
    }
    static __device__ __forceinline__ int run_start(int g, int r) { return 4 * g + 16 * r; }
};

PLUGRT_QUANT_KERNELS(mxfp4, MXFP4)
