// MXFP4 (ggml type 39): 32 weights in 17 bytes: E8M0 exponent e, then 16 bytes whose byte j holds
// weight j (low nibble) and weight j + 16 (high nibble). Nibble -> twice the E2M1 value, times 2^(e - 128).
#include "q8_matmul.cuh"

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

    // Nibble pair -> half2 without a table: the sign goes to bit 15 and (e1 e0 m) to bits 11..9,
    // which makes the fp16 number (doubled E2M1 value) * 2^-15 (e = 0 lands on the subnormal 2^-15).
    // SH = 12 - (bit offset of the nibble in each 16-bit half of q) moves its sign to bit 15.
    template <int SH>
    static __device__ __forceinline__ float2 nibbles_to_float2(uint32_t q) {
        const uint32_t s = q << SH;
        const uint32_t m = SH >= 3 ? q << (SH - 3) : q >> (3 - SH);
        const uint32_t h = (s & 0x80008000u) | (m & 0x0E000E00u);
        return __half22float2(*reinterpret_cast<const __half2*>(&h));
    }
    // Group g: the 4 bytes 1 + 4g .. hold weights 4g..4g+3 (low nibbles) and 16+4g.. (high nibbles).
    template <int NR>
    static __device__ __forceinline__ void dot(const uint8_t* blk, int g, const float4 (&xv)[NR][GW / 4],
                                               float (&acc)[NR]) {
        const uint32_t q = plugrt::lds_u32_any(blk + 1 + 4 * g);
        const float2 a = nibbles_to_float2<12>(q);  // weights 4g, 4g+2
        const float2 b = nibbles_to_float2<4>(q);   // 4g+1, 4g+3
        const float2 c = nibbles_to_float2<8>(q);   // 16+4g, 16+4g+2
        const float2 d = nibbles_to_float2<0>(q);   // 16+4g+1, 16+4g+3
        const float sc = scale(blk[0]);
#pragma unroll
        for (int i = 0; i < NR; ++i) {
            const float p = plugrt::dot4(xv[i][0], a.x, b.x, a.y, b.y) + plugrt::dot4(xv[i][1], c.x, d.x, c.y, d.y);
            acc[i] += (p * 32768.f) * sc;
        }
    }

    // The 32 weights as int8 doubled E2M1 values (scale 2^(e - 128)). Byte lookups: the low three
    // bits of each nibble index the magnitudes {0,1,2,3,4,6,8,12} and their negatives, the sign bit
    // picks between the two; nibble order (4k, 16+4k, 4k+1, ...) is then sorted into words.
    static constexpr int UNITS = 1;
    static constexpr bool HAS_MIN = false;
    static __device__ __forceinline__ void unpack_q8(const uint8_t* blk, int, int (&q)[8], float& d, float& m) {
        int w[4];
        plugrt::lds_words_any<4>(blk + 1, w);
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const uint32_t mag = (uint32_t)w[k] & 0x77777777u, sign = ((uint32_t)w[k] & 0x88888888u) >> 1;
            uint32_t half[2];
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const uint32_t sel = mag >> (16 * h);
                const uint32_t pos = __byte_perm(0x03020100u, 0x0C080604u, sel);
                const uint32_t neg = __byte_perm(0xFDFEFF00u, 0xF4F8FAFCu, sel);
                half[h] = __byte_perm(pos, neg, 0x3210u | ((sign >> (16 * h)) & 0x4444u));
            }
            q[k] = (int)__byte_perm(half[0], half[1], 0x6420u);      // weights 4k .. 4k+3
            q[4 + k] = (int)__byte_perm(half[0], half[1], 0x7531u);  // weights 16+4k .. 16+4k+3
        }
        d = scale(blk[0]);
        m = 0.f;
    }
};

// Decode products: a unit as magnitude bytes in nibble order, without sorting or sign selects. With
// the generic PTX prmt, a selector nibble whose top bit is set yields the sign of the chosen byte,
// 0 for the non-negative magnitude table: looking the nibbles up as they are gives the magnitudes
// of the positive weights (0 at negative ones), looking them up with the sign bits flipped gives
// those of the negative ones. The activations are put into the same nibble order instead (arrange:
// two byte selects a word, once per activation unit), and dot = positive sum - negative sum.
template <>
struct plugrt::Q8Unit<MXFP4> {
    int w[4];  // the unit's 16 bytes: nibbles of byte j are weights j and 16 + j
    float d, m;
    // The magnitude table's low word, held in a register. ptxas copies a value it knows to be the
    // same in every lane (a constant, shuffles of lane 0) into a uniform register wherever registers
    // run short, and prmt cannot read one: a copy before nearly every lookup (14 of a unit's 80 SASS
    // instructions; 60 more a two-row item in the expert kernel). threadIdx.y is 0 in the 1-D blocks
    // these kernels run in, but ptxas cannot assume it to be the same across a warp.
    struct Table {
        uint32_t low;
    };
    static __device__ __forceinline__ Table table() { return {0x03020100u | threadIdx.y}; }
    static __device__ __forceinline__ int lookup(Table t, uint32_t nibbles) {  // 4 selector nibbles, low 16 bits
        uint32_t r;
        asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(t.low), "r"(0x0C080604u), "r"(nibbles));
        return (int)r;
    }
    // Words 2k and 2k + 1 become x in the order of weight word k's nibbles: 4k, 16+4k, 4k+1, 17+4k,
    // then 4k+2, 18+4k, 4k+3, 19+4k. dx takes the 1/2 of the block scale 2^(e - 128), so that d is
    // the bare exponent 2^(e - 127): e = 0 gives 0 where 2^-128 is a denormal, flushed anyway, and
    // e = 255 (NaN in the OCP format, 2^127 in ggml's table) gives infinity.
    static __device__ __forceinline__ void arrange(Q8Activation& x) {
        const int v[8] = {x.a.x, x.a.y, x.a.z, x.a.w, x.b.x, x.b.y, x.b.z, x.b.w};
        int o[8];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            o[2 * k] = (int)__byte_perm(v[k], v[4 + k], 0x5140);
            o[2 * k + 1] = (int)__byte_perm(v[k], v[4 + k], 0x7362);
        }
        x.a = make_int4(o[0], o[1], o[2], o[3]);
        x.b = make_int4(o[4], o[5], o[6], o[7]);
        x.ds.x *= 0.5f;
    }
    __device__ __forceinline__ void load(const uint8_t* blk, int) {
        const uint32_t a = (uint32_t)__cvta_generic_to_shared(blk + 1);
        load_words(a & ~3u, (a & 3) * 8, blk[0]);
    }
    // The unit whose 16 bytes start `shift` bits into the aligned shared word at `at`, exponent e.
    __device__ __forceinline__ void load_words(uint32_t at, uint32_t shift, uint32_t e) {
        lds_words_at<4>(at, shift, w);
        d = __uint_as_float(e << 23);
        m = 0.f;
    }
    __device__ __forceinline__ int dot(int4 a, int4 b, Table t) const {
        const int x[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
        int sp = 0, sn = 0;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const uint32_t p = (uint32_t)w[k], n = p ^ 0x88888888u;
            sp = __dp4a(lookup(t, p), x[2 * k], sp);
            sp = __dp4a(lookup(t, p >> 16), x[2 * k + 1], sp);
            sn = __dp4a(lookup(t, n), x[2 * k], sn);
            sn = __dp4a(lookup(t, n >> 16), x[2 * k + 1], sn);
        }
        return sp - sn;
    }
};

// A lane's units lie 32 * 17 bytes apart, a multiple of 4, so their words share one misalignment:
// the aligned address and the shift are worked out once a row instead of once a unit (3 to 7 of a
// unit's 65 SASS instructions, sm_90).
template <>
struct plugrt::Q8LaneUnits<MXFP4> {
    static constexpr uint32_t STEP = 32 * MXFP4::BYTES;
    uint32_t words, shift, exponent;  // shared addresses: unit 0's first aligned word, its e byte
    __device__ __forceinline__ Q8LaneUnits(const uint8_t* blocks, int lane) {
        exponent = (uint32_t)__cvta_generic_to_shared(blocks + MXFP4::BYTES * lane);
        words = (exponent + 1) & ~3u;
        shift = ((exponent + 1) & 3) * 8;
    }
    __device__ __forceinline__ void load(Q8Unit<MXFP4>& unit, int t) const {
        unit.load_words(words + STEP * t, shift, lds_byte(exponent + STEP * t));
    }
};

PLUGRT_QUANT_KERNELS(mxfp4, MXFP4)
// matvec_q8_paired at 72 registers (see PairedMinBlocks)
template <>
struct plugrt::PairedMinBlocks<MXFP4> {
    static constexpr int value = 7;
};

PLUGRT_Q8_KERNELS(mxfp4, MXFP4)
PLUGRT_Q8_TWO_ROW_STREAM_KERNELS(mxfp4, MXFP4)
PLUGRT_Q8_MATMUL_KERNELS(mxfp4, MXFP4)
