// Prefill products on int8 tensor cores, for formats with UNITS and unpack_q8 (quant_kernels.cuh):
// activations quantized to int8 per 32 values (q8_activations.cuh), weights unpacked to int8 by the
// format, one mma.sync m16n8k32 (s8 x s8 -> s32) per 32-column unit, then in fp32
//     acc += d_w * dx * int_sum - m_w * (dx * sum qx)
// per unit: the int8 matvec's arithmetic on a tensor-core tile. A format's file expands
// PLUGRT_Q8_MATMUL_KERNELS(prefix, F) next to PLUGRT_Q8_KERNELS.
#pragma once
#include "quant_kernels.cuh"

namespace plugrt {

// Tile: MM_BM weight rows x MQ_BN tokens; eight warps, two along the rows and four along the
// tokens, each 32 rows x 32 tokens; K steps of 64 columns (two units) in an MQ_STAGES-deep cp.async
// pipeline. A stage holds the step's int8 activations, their (dx, sx) pairs and the raw weight
// blocks (RawStage); the weights of a step are unpacked to int8 rows with their (d, m) pairs one
// step ahead of the products that read them, into one of two buffers, so that a step takes one
// barrier. Rows are 80 bytes apart: the eight 16-byte rows one ldmatrix phase reads fall in
// distinct banks. The whole is dynamic shared memory (MQSmem::BYTES, about 76 KiB for MXFP4).
constexpr int MQ_BN = 128, MQ_THREADS = 2 * MQ_BN, MQ_STAGES = 4;

template <class F>
struct MQSmem {
    static constexpr int BK = 64, UNITS = BK / 32, LD = BK + 16;
    using Raw = RawStage<F, BK>;
    static constexpr int X_AT = 0, XDS_AT = MQ_BN * LD, RAW_AT = XDS_AT + MQ_BN * UNITS * 8;
    static constexpr int STAGE = RAW_AT + Raw::BYTES;
    static constexpr int W_BYTES = MM_BM * LD, WDM_BYTES = MM_BM * UNITS * 8;
    static constexpr int W_AT = MQ_STAGES * STAGE, WDM_AT = W_AT + 2 * W_BYTES;
    static constexpr int LDC = MM_BM + 4;  // floats a token row of the output tile, written over it all
    static constexpr int TILES = WDM_AT + 2 * WDM_BYTES, C_BYTES = MQ_BN * LDC * 4;
    static constexpr int BYTES = TILES > C_BYTES ? TILES : C_BYTES;
};

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"((uint32_t)__cvta_generic_to_shared(smem))
                 : "memory");
}

// f[r] = 1.5 * 2^23 + (a . b)[r] for a (16 x 32, row major) . b (32 x 8, column major), int8 in: the
// int32 products accumulate onto the bits 0x4B400000 of 1.5 * 2^23, which makes each sum (of
// magnitude below 2^22) a float that one subtraction recovers, without the quarter-rate conversion.
constexpr int MQ_FLOAT_BIAS_BITS = 0x4B400000;
constexpr float MQ_FLOAT_BIAS = 12582912.f;
__device__ __forceinline__ void mma_s8_16x8x32_biased(float (&f)[4], const uint32_t (&a)[4], uint32_t b0,
                                                      uint32_t b1) {
    int c[4];
    asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%10, %10, %10, %10};"
        : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "r"(MQ_FLOAT_BIAS_BITS));
#pragma unroll
    for (int r = 0; r < 4; ++r) f[r] = __int_as_float(c[r]);
}

// One output tile: orow[n][m0 + m] = sum_c x[n][c] * W[m0 + m, c] for n < n_rows, where x[n] is the
// int8 row xrow[n] with its (dx, dx * sum q) pairs at dsrow[n].
template <class F>
__device__ void mmq_tile(unsigned char* smem, const int8_t* const* xrow, const float2* const* dsrow,
                         float* const* orow, int n_rows, const uint8_t* __restrict__ w, int row_bytes, int n_cols,
                         int n_out, int m0) {
    using S = MQSmem<F>;
    constexpr int BK = S::BK, LD = S::LD, UNITS = S::UNITS;
    int8_t* sw = reinterpret_cast<int8_t*>(smem + S::W_AT);      // [2][MM_BM][LD]
    float2* swdm = reinterpret_cast<float2*>(smem + S::WDM_AT);  // [2][MM_BM][UNITS]
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wm = warp & 1, wn = warp >> 1;
    const int g = lane >> 2, tig = lane & 3;
    const int n_units = n_cols / 32, n_steps = (n_cols + BK - 1) / BK;
    auto stage = [&](int s) { return smem + (s % MQ_STAGES) * S::STAGE; };

    // Every step, a thread copies the same pieces of the activation tile: 16-byte piece c % (BK / 16)
    // of token c / (BK / 16), and (dx, sx) pair c % UNITS of token c / UNITS, for c = tid + l * MQ_THREADS.
    constexpr int X_PIECES = MQ_BN * (BK / 16) / MQ_THREADS, DS_PAIRS = MQ_BN * UNITS / MQ_THREADS;
    static_assert(X_PIECES * MQ_THREADS == MQ_BN * (BK / 16) && DS_PAIRS * MQ_THREADS == MQ_BN * UNITS);
    auto load = [&](int s) {  // cp.async of step s into its stage; one commit group a step, maybe empty
        if (s < n_steps) {
            const int k0 = s * BK;
            unsigned char* st = stage(s);
            S::Raw::template copy<MQ_THREADS>(st + S::RAW_AT, w, row_bytes, n_cols, n_out, m0, k0);
#pragma unroll
            for (int l = 0; l < X_PIECES; ++l) {
                const int c = tid + l * MQ_THREADS, n = c / (BK / 16), at = k0 + 16 * (c % (BK / 16));
                const bool valid = n < n_rows && at < n_cols;
                cp_async_or_zero<16>(st + S::X_AT + n * LD + at - k0, valid ? xrow[n] + at : xrow[0], valid);
            }
#pragma unroll
            for (int l = 0; l < DS_PAIRS; ++l) {
                const int c = tid + l * MQ_THREADS, n = c / UNITS, unit = k0 / 32 + c % UNITS;
                const bool valid = n < n_rows && unit < n_units;
                cp_async_or_zero<8>(st + S::XDS_AT + 8 * c, valid ? dsrow[n] + unit : dsrow[0], valid);
            }
        }
        cp_async_commit();
    };
    // Unpacking a unit takes two threads: the block's first half writes words 0, 1, 4, 5 of its 8
    // (weights 0-7 and 16-23) and the (d, m) pair, the second half words 2, 3, 6, 7. The half is the
    // same across a warp, and each half's copy of unpack_q8 computes only the words it writes.
    static_assert(MM_BM * UNITS == MQ_THREADS / 2, "one (row, unit) per thread pair");
    auto unpack = [&](int s) {  // raw weights of step s -> int8 rows and (d, m) in buffer s % 2
        if (s >= n_steps) return;
        const int k0 = s * BK, c = tid % (MQ_THREADS / 2);
        const int m = c / UNITS, u = c % UNITS, unit = k0 / 32 + u;
        const uint8_t* blk = stage(s) + S::RAW_AT + m * S::Raw::ROW + S::Raw::offset(w, row_bytes, m0, m, k0) +
                             (unit / F::UNITS - k0 / F::QK) * F::BYTES;
        const bool valid = m0 + m < n_out && unit < n_units;
        int q[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        float d = 0.f, mn = 0.f;
        int2* dst = reinterpret_cast<int2*>(sw + (s & 1) * S::W_BYTES + m * LD + 32 * u);
        if (tid < MQ_THREADS / 2) {
            if (valid) F::unpack_q8(blk, unit % F::UNITS, q, d, mn);
            dst[0] = make_int2(q[0], q[1]);
            dst[2] = make_int2(q[4], q[5]);
            swdm[(s & 1) * MM_BM * UNITS + m * UNITS + u] = make_float2(d, mn);
        } else {
            if (valid) F::unpack_q8(blk, unit % F::UNITS, q, d, mn);
            dst[1] = make_int2(q[2], q[3]);
            dst[3] = make_int2(q[6], q[7]);
        }
    };

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;
    auto multiply = [&](int s) {  // acc += step s's products of this warp's 32 rows x 32 tokens
        const unsigned char* st = stage(s);
        const int8_t* xs = reinterpret_cast<const int8_t*>(st + S::X_AT);
        const float2* xds = reinterpret_cast<const float2*>(st + S::XDS_AT);
        const int8_t* ws = sw + (s & 1) * S::W_BYTES;
        const float2* wdms = swdm + (s & 1) * MM_BM * UNITS;
#pragma unroll
        for (int u = 0; u < UNITS; ++u) {
            if (s * BK + 32 * u >= n_cols) break;
            uint32_t a[2][4], b[4][2];
#pragma unroll
            for (int i = 0; i < 2; ++i)
                ldmatrix_x4(a[i], ws + (wm * 32 + 16 * i + (lane & 15)) * LD + 32 * u + 16 * (lane >> 4));
#pragma unroll
            for (int jj = 0; jj < 2; ++jj) {
                uint32_t r[4];
                ldmatrix_x4(r, xs + (wn * 32 + 16 * jj + (lane & 7) + 8 * (lane >> 4)) * LD + 32 * u +
                                   16 * ((lane >> 3) & 1));
                b[2 * jj][0] = r[0], b[2 * jj][1] = r[1], b[2 * jj + 1][0] = r[2], b[2 * jj + 1][1] = r[3];
            }
            // (d, m) of rows g, g + 8 of each m16; (dx, sx) of tokens 2 tig, + 1 of each n8, and
            // -bias * dx, exact (dx has 22 significant bits), so that fmaf(f, dx, it) = (f - bias) * dx
            float2 wdm[2][2], xd[4][2];
            float unbias[4][2];
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int h = 0; h < 2; ++h) wdm[i][h] = wdms[(wm * 32 + 16 * i + 8 * h + g) * UNITS + u];
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    xd[j][e] = xds[(wn * 32 + 8 * j + 2 * tig + e) * UNITS + u];
                    unbias[j][e] = -MQ_FLOAT_BIAS * xd[j][e].x;
                }
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    float f[4];
                    mma_s8_16x8x32_biased(f, a[i], b[j][0], b[j][1]);
#pragma unroll
                    for (int r = 0; r < 4; ++r) {  // f[r]: row g + 8 (r / 2), token 2 tig + r % 2
                        const float2 wr = wdm[i][r >> 1], xr = xd[j][r & 1];
                        acc[i][j][r] = fmaf(fmaf(f[r], xr.x, unbias[j][r & 1]), wr.x, acc[i][j][r]);
                        if constexpr (F::HAS_MIN) acc[i][j][r] = fmaf(-wr.y, xr.y, acc[i][j][r]);
                    }
                }
        }
    };

    const bool has_tokens = wn * 32 < n_rows;  // warps past the tile's tokens make no products
    for (int s = 0; s < MQ_STAGES - 1; ++s) load(s);
    cp_async_wait<MQ_STAGES - 3>();  // steps 0 and 1 have landed (this thread's copies)
    __syncthreads();
    unpack(0);
    for (int s = 0; s < n_steps; ++s) {
        cp_async_wait<MQ_STAGES - 3>();  // step s + 1 has landed
        __syncthreads();  // ... for every thread; step s is unpacked; every warp is done with step s - 1
        load(s + MQ_STAGES - 1);  // into the stage of step s - 1
        unpack(s + 1);            // into the buffer of step s - 1
        if (has_tokens) multiply(s);
    }
    cp_async_wait<0>();
    __syncthreads();  // every warp is done with the tiles that sc overwrites
    float* sc = reinterpret_cast<float*>(smem);  // [MQ_BN][LDC]
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r)
                sc[(wn * 32 + 8 * j + 2 * tig + (r & 1)) * S::LDC + wm * 32 + 16 * i + 8 * (r >> 1) + g] = acc[i][j][r];
    __syncthreads();
    store_tile<MQ_BN, MQ_THREADS>(sc, S::LDC, orow, n_rows, n_out, m0);
}

extern __shared__ __align__(128) unsigned char mq_smem[];

// out[t, :] = W @ x[t, :] from int8 activations xq [n_tok, n_cols], xds [n_tok, n_cols / 32];
// grid (ceil(n_out / MM_BM), ceil(n_tok / MQ_BN)), MQ_THREADS threads, MQSmem::BYTES of dynamic
// shared memory.
template <class F>
__device__ __forceinline__ void matmul_q8(const int8_t* xq, const float2* xds, const uint8_t* w, float* out,
                                          int row_bytes, int n_cols, int n_out, int n_tok) {
    __shared__ const int8_t* xrow[MQ_BN];
    __shared__ const float2* dsrow[MQ_BN];
    __shared__ float* orow[MQ_BN];
    const int n0 = blockIdx.y * MQ_BN;
    if (threadIdx.x < MQ_BN) {
        const int t = min(n0 + (int)threadIdx.x, n_tok - 1);
        xrow[threadIdx.x] = xq + (size_t)t * n_cols;
        dsrow[threadIdx.x] = xds + (size_t)t * (n_cols / 32);
        orow[threadIdx.x] = out + (size_t)t * n_out;
    }
    __syncthreads();
    mmq_tile<F>(mq_smem, xrow, dsrow, orow, min(MQ_BN, n_tok - n0), w, row_bytes, n_cols, n_out, blockIdx.x * MM_BM);
}

// matmul_experts from int8 activations xq [n_tok, x_rows, n_cols] (x_rows 1 or k); grid
// (ceil(n_out / MM_BM), routing tiles), each of at most MQ_BN pairs (for_expert_tiles).
template <class F>
__device__ __forceinline__ void matmul_q8_experts(const int8_t* xq, const float2* xds, const uint8_t* w,
                                                  const int* sorted, const int4* tiles, float* out, int expert_bytes,
                                                  int row_bytes, int n_cols, int n_out, int n_tiles, int k,
                                                  int x_rows) {
    __shared__ const int8_t* xrow[MQ_BN];
    __shared__ const float2* dsrow[MQ_BN];
    __shared__ float* orow[MQ_BN];
    const int tid = threadIdx.x;
    for_expert_tiles(sorted, tiles, n_tiles, [&](int e, const int* pairs, int n) {
        if (tid < n) {
            const int p = pairs[tid];
            const size_t xr = expert_input_row(p, k, x_rows);
            xrow[tid] = xq + xr * n_cols;
            dsrow[tid] = xds + xr * (n_cols / 32);
            orow[tid] = out + (size_t)p * n_out;
        }
        __syncthreads();
        mmq_tile<F>(mq_smem, xrow, dsrow, orow, n, w + (size_t)e * expert_bytes, row_bytes, n_cols, n_out,
                    blockIdx.x * MM_BM);
    });
}

}  // namespace plugrt

#define PLUGRT_Q8_MATMUL_KERNELS(P, F)                                                                          \
    extern "C" __device__ int P##_matmul_q8_smem_bytes = plugrt::MQSmem<F>::BYTES;                              \
    extern "C" __global__ void __launch_bounds__(plugrt::MQ_THREADS, 2)                                         \
        P##_matmul_q8(const int8_t* xq, const float2* xds, const uint8_t* w, float* out, int row_bytes,         \
                      int n_cols, int n_out, int n_tok) {                                                       \
        plugrt::matmul_q8<F>(xq, xds, w, out, row_bytes, n_cols, n_out, n_tok);                                 \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(plugrt::MQ_THREADS, 2)                                         \
        P##_matmul_q8_experts(const int8_t* xq, const float2* xds, const uint8_t* w, const int* sorted,         \
                              const int4* tiles, float* out, int expert_bytes, int row_bytes, int n_cols,       \
                              int n_out, int n_tiles, int k, int x_rows) {                                      \
        plugrt::matmul_q8_experts<F>(xq, xds, w, sorted, tiles, out, expert_bytes, row_bytes, n_cols, n_out,    \
                                     n_tiles, k, x_rows);                                                       \
    }
