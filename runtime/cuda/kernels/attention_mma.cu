// Causal attention for prefill on tensor cores: flash attention (online softmax over key tiles) with
// mma.sync m16n8k8 on tf32 inputs (Q, K, V and the probabilities rounded to tf32, 11 significant
// bits) and fp32 accumulation. Same contract as attention_dh* in attention.cu (ring cache, GQA,
// sliding window, optional sinks), without key splits: it serves calls with many query rows.
//
// A block takes FA_ROWS rows (query, query head of the kv head's group), rows of one token next to
// each other, so the group's heads share every K/V tile; each of its FA_WARPS warps owns 16 rows.
// Key tiles of FA_KEYS keys are copied with cp.async one tile ahead (two stages), rounded to tf32 in
// shared memory by the threads that copied them, then S = Q K^T and O += P V run as mma tiles. The
// probabilities go from the S accumulators straight into the A operand of P V: with m16n8k8 the
// accumulator holds keys 2t, 2t + 1 where the operand wants k = t, t + 4, so the product reads V's
// rows in that order (key 2t for k = t, 2t + 1 for k = t + 4).
#include <climits>
#include <stdint.h>
#include "common.cuh"
#include "cp_async.cuh"

using plugrt::cp_async_commit, plugrt::cp_async_or_zero, plugrt::cp_async_wait;

constexpr int FA_WARPS = 4, FA_ROWS = 16 * FA_WARPS, FA_KEYS = 32, FA_THREADS = 32 * FA_WARPS;
constexpr float LOG2_E = 1.4426950408889634f;  // the softmax runs on exp2 of scores times log2(e)

template <int DH>
struct FaSmem {
    static constexpr int LD = DH + 4;  // floats a key row: the fragment reads below fall in distinct banks
    static constexpr int TILE = FA_KEYS * LD;
    static constexpr int BYTES = 2 * 2 * TILE * 4;  // two stages of a K and a V tile
};

__device__ __forceinline__ float to_tf32(float x) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return __uint_as_float(r);
}

__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// c += a (16 x 8, row major) . b (8 x 8, column major), tf32 in, fp32 accumulated.
__device__ __forceinline__ void mma_tf32(float (&c)[4], const float (&a)[4], float b0, float b1) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(__float_as_uint(a[0])), "r"(__float_as_uint(a[1])), "r"(__float_as_uint(a[2])),
          "r"(__float_as_uint(a[3])), "r"(__float_as_uint(b0)), "r"(__float_as_uint(b1)));
}

template <int DH>
__device__ __forceinline__ void attention_mma_rows(const float* __restrict__ q, const float* __restrict__ k_cache,
                                                   const float* __restrict__ v_cache,
                                                   const int* __restrict__ positions,
                                                   const float* __restrict__ sinks, float* __restrict__ out,
                                                   int n, int hq, int hkv, int cap, int window, float scale) {
    using S = FaSmem<DH>;
    constexpr int LD = S::LD, CHUNKS = FA_KEYS * DH / 4;  // 16-byte pieces of a tile
    extern __shared__ __align__(16) float fa_smem[];      // [2 stages][K, V][FA_KEYS][LD]
    __shared__ int block_first, block_last;

    const int group = hq / hkv, kv_head = blockIdx.y, rows = n * group;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, tig = lane & 3;
    const int row0 = blockIdx.x * FA_ROWS;

    // this thread's two rows (g and g + 8 of its warp's 16): token, head, visible keys first..last
    int token[2], head[2], first[2], last[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int row = min(row0 + warp * 16 + g + 8 * h, rows - 1);
        token[h] = row / group;
        head[h] = kv_head * group + row % group;
        last[h] = positions[token[h]];
        first[h] = window > 0 ? max(0, last[h] - window + 1) : 0;
    }
    if (tid == 0) block_first = INT_MAX, block_last = -1;
    __syncthreads();
    atomicMin(&block_first, min(first[0], first[1]));
    atomicMax(&block_last, max(last[0], last[1]));
    __syncthreads();
    const int key_first = block_first, key_last = block_last;
    const int n_tiles = (key_last - key_first) / FA_KEYS + 1;
    int warp_first = min(first[0], first[1]), warp_last = max(last[0], last[1]);
#pragma unroll
    for (int o = 4; o < 32; o <<= 1) {
        warp_first = min(warp_first, __shfl_xor_sync(PLUGRT_FULL_MASK, warp_first, o));
        warp_last = max(warp_last, __shfl_xor_sync(PLUGRT_FULL_MASK, warp_last, o));
    }

    // Q as tf32 A operands, scaled by scale * log2(e)
    constexpr int KSTEPS = DH / 8;
    float qa[KSTEPS][4];
    const float qscale = scale * LOG2_E;
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ++ks)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int h = e & 1, d = 8 * ks + tig + 4 * (e >> 1);
            qa[ks][e] = to_tf32(q[((size_t)token[h] * hq + head[h]) * DH + d] * qscale);
        }

    auto tile_at = [&](int stage, int kv) { return fa_smem + (2 * stage + kv) * S::TILE; };
    auto load = [&](int t) {  // cp.async of key tile t (zeros past key_last); one commit group each
        if (t < n_tiles) {
            const int k0 = key_first + t * FA_KEYS;
            for (int c = tid; c < CHUNKS; c += FA_THREADS) {
                const int j = c / (DH / 4), d = 4 * (c % (DH / 4)), p = k0 + j;
                const bool valid = p <= key_last;
                const size_t src = valid ? ((size_t)(p % cap) * hkv + kv_head) * DH + d : 0;
                cp_async_or_zero<16>(tile_at(t & 1, 0) + j * LD + d, k_cache + src, valid);
                cp_async_or_zero<16>(tile_at(t & 1, 1) + j * LD + d, v_cache + src, valid);
            }
        }
        cp_async_commit();
    };

    float o[KSTEPS][4];  // O accumulators: dims 8 j + 2 tig, + 1 of rows g, g + 8
#pragma unroll
    for (int j = 0; j < KSTEPS; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[j][e] = 0.f;
    float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};

    load(0);
    for (int t = 0; t < n_tiles; ++t) {
        load(t + 1);
        cp_async_wait<1>();
        for (int c = tid; c < CHUNKS; c += FA_THREADS) {  // the pieces this thread copied, to tf32
#pragma unroll
            for (int kv = 0; kv < 2; ++kv) {
                float4* piece = reinterpret_cast<float4*>(tile_at(t & 1, kv) + (c / (DH / 4)) * LD + 4 * (c % (DH / 4)));
                float4 v = *piece;
                *piece = make_float4(to_tf32(v.x), to_tf32(v.y), to_tf32(v.z), to_tf32(v.w));
            }
        }
        __syncthreads();
        const int k0 = key_first + t * FA_KEYS;
        if (k0 <= warp_last && k0 + FA_KEYS - 1 >= warp_first) {
            const float* ks_tile = tile_at(t & 1, 0);
            const float* vs_tile = tile_at(t & 1, 1);
            float s[FA_KEYS / 8][4];
#pragma unroll
            for (int nt = 0; nt < FA_KEYS / 8; ++nt) {
#pragma unroll
                for (int e = 0; e < 4; ++e) s[nt][e] = 0.f;
                const float* krow = ks_tile + (8 * nt + g) * LD + tig;
#pragma unroll
                for (int ks = 0; ks < KSTEPS; ++ks) mma_tf32(s[nt], qa[ks], krow[8 * ks], krow[8 * ks + 4]);
            }
            float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int nt = 0; nt < FA_KEYS / 8; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) {  // s[nt][e]: row g + 8 (e / 2), key 8 nt + 2 tig + e % 2
                    const int h = e >> 1, p = k0 + 8 * nt + 2 * tig + (e & 1);
                    if (p < first[h] || p > last[h]) s[nt][e] = -INFINITY;
                    tile_max[h] = fmaxf(tile_max[h], s[nt][e]);
                }
            float correction[2];
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(PLUGRT_FULL_MASK, tile_max[h], 1));
                tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(PLUGRT_FULL_MASK, tile_max[h], 2));
                const float new_max = fmaxf(row_max[h], tile_max[h]);
                // a row that has seen no key yet keeps max -inf: its weights and correction are 0
                const float base = new_max == -INFINITY ? 0.f : new_max;
                correction[h] = fast_exp2(row_max[h] - base);
                row_max[h] = new_max;
#pragma unroll
                for (int nt = 0; nt < FA_KEYS / 8; ++nt)
#pragma unroll
                    for (int e = 0; e < 2; ++e) s[nt][2 * h + e] = fast_exp2(s[nt][2 * h + e] - base);
            }
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                float sum = 0.f;
#pragma unroll
                for (int nt = 0; nt < FA_KEYS / 8; ++nt) sum += s[nt][2 * h] + s[nt][2 * h + 1];
                row_sum[h] = row_sum[h] * correction[h] + sum;
            }
#pragma unroll
            for (int j = 0; j < KSTEPS; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) o[j][e] *= correction[e >> 1];
#pragma unroll
            for (int nt = 0; nt < FA_KEYS / 8; ++nt) {  // P's keys 8 nt .. 8 nt + 7 as the k of one mma
                const float pa[4] = {to_tf32(s[nt][0]), to_tf32(s[nt][2]), to_tf32(s[nt][1]), to_tf32(s[nt][3])};
                const float* vrow = vs_tile + (8 * nt + 2 * tig) * LD + g;
#pragma unroll
                for (int j = 0; j < KSTEPS; ++j) mma_tf32(o[j], pa, vrow[8 * j], vrow[LD + 8 * j]);
            }
        }
        __syncthreads();  // every warp is done with stage t & 1 before tile t + 2 is copied into it
    }
    cp_async_wait<0>();

#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float sum = row_sum[h];
        sum += __shfl_xor_sync(PLUGRT_FULL_MASK, sum, 1);
        sum += __shfl_xor_sync(PLUGRT_FULL_MASK, sum, 2);
        float factor = 1.f;
        if (sinks != nullptr) {
            const float sink = sinks[head[h]] * LOG2_E;
            const float new_max = fmaxf(row_max[h], sink);
            factor = fast_exp2(row_max[h] - new_max);
            sum = sum * factor + fast_exp2(sink - new_max);
        }
        const int row = row0 + warp * 16 + g + 8 * h;
        if (row >= rows) continue;
        float* dst = out + ((size_t)token[h] * hq + head[h]) * DH + 2 * tig;
        const float inv = factor / sum;
#pragma unroll
        for (int j = 0; j < KSTEPS; ++j)
            *reinterpret_cast<float2*>(dst + 8 * j) = make_float2(o[j][2 * h] * inv, o[j][2 * h + 1] * inv);
    }
}

// MIN_BLOCKS: resident blocks an SM is asked to hold (bounds the registers: 145 for DH 64, 224 for 128)
#define ATTENTION_MMA_KERNEL(DH, MIN_BLOCKS)                                                                   \
    extern "C" __device__ int attention_mma_dh##DH##_smem_bytes = FaSmem<DH>::BYTES;                         \
    extern "C" __global__ void __launch_bounds__(FA_THREADS, MIN_BLOCKS) attention_mma_dh##DH(               \
        const float* q, const float* k_cache, const float* v_cache, const int* positions, const float* sinks,  \
        float* out, int n, int hq, int hkv, int cap, int window, float scale) {                               \
        attention_mma_rows<DH>(q, k_cache, v_cache, positions, sinks, out, n, hq, hkv, cap, window, scale);  \
    }

ATTENTION_MMA_KERNEL(64, 3)
ATTENTION_MMA_KERNEL(128, 1)
