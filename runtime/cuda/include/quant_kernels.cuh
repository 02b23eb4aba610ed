// Generic weight-consumer kernels shared by every quantization format.
//
// A format is a struct F with
//   QK      weights per block,            BYTES  bytes per block,
//   GW      weights per decode group (a multiple of 4),  NG = QK / GW groups per block,
//   TILE_K  K tile of the tensor-core matmul (a multiple of the span of positions any group covers),
//   static __device__ void decode(const uint8_t* block, int g, float v[GW]);
//   static __device__ int run_start(int g, int r);   // position in the block of v[4r .. 4r+3]
//   template <int NR> static __device__ void dot(const uint8_t* block, int g,
//                                                const float4 (&xv)[NR][GW / 4], float (&acc)[NR]);
//       acc[i] += group g of the block . x row i, where xv[i][r] is x at run_start(g, r) .. + 3;
//       the block sits in shared memory at its global address modulo 16. plugrt::dot_decoded is
//       the generic one (decode, then FMAs); fast formats decode with packed integer tricks.
// Groups are numbered so that the groups of one TILE_K-aligned K range are consecutive.
// A format's .cu file defines F and expands PLUGRT_QUANT_KERNELS(prefix, F), which emits the
// extern "C" kernels the Python launchers in runtime/quant_cuda.py call.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>
#include <stdint.h>
#include <type_traits>

#include "cp_async.cuh"
#include "pdl.cuh"
#include "swiglu.cuh"

namespace plugrt {

__device__ __forceinline__ uint32_t ld_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
__device__ __forceinline__ uint32_t ld_u32(const uint8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }
__device__ __forceinline__ float ld_half(const uint8_t* p) { return __half2float(*reinterpret_cast<const __half*>(p)); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ void store4(float* p, const float* v) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}
__device__ __forceinline__ void store4(__half* p, const float* v) {
    __half2* q = reinterpret_cast<__half2*>(p);
    q[0] = __floats2half2_rn(v[0], v[1]);
    q[1] = __floats2half2_rn(v[2], v[3]);
}
__device__ __forceinline__ void store4(__nv_bfloat16* p, const float* v) {
    __nv_bfloat162* q = reinterpret_cast<__nv_bfloat162*>(p);
    q[0] = __floats2bfloat162_rn(v[0], v[1]);
    q[1] = __floats2bfloat162_rn(v[2], v[3]);
}

// ---------------------------------------------------------------- dequantize / row gather
// out[r, :] = dequant(w[src(r), :]) with src(r) = ids ? ids[r] : r; rows with an id outside
// [0, n_src_rows) come out as zeros.
template <class F, class T>
__device__ __forceinline__ void dequant_rows(const uint8_t* __restrict__ w, const int* __restrict__ ids,
                                             T* __restrict__ out, int row_bytes, int n_cols, int n_rows,
                                             int n_src_rows) {
    const int n_groups = n_cols / F::GW;
    const size_t total = (size_t)n_rows * n_groups;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int r = (int)(i / n_groups), G = (int)(i % n_groups);
        const int b = G / F::NG, g = G % F::NG;
        const int src = ids ? ids[r] : r;
        float v[F::GW];
        if (src >= 0 && src < n_src_rows) {
            F::decode(w + (size_t)src * row_bytes + (size_t)b * F::BYTES, g, v);
        } else {
#pragma unroll
            for (int j = 0; j < F::GW; ++j) v[j] = 0.f;
        }
        T* o = out + (size_t)r * n_cols + (size_t)b * F::QK;
#pragma unroll
        for (int q = 0; q < F::GW / 4; ++q) store4(o + F::run_start(g, q), v + 4 * q);
    }
}

// ---------------------------------------------------------------- fused matvec (decode)
constexpr int MV_WARPS = 4;  // warps per block; each warp computes mv_rows_per_warp(NR) weight rows
// Bytes of shared memory per warp for (a chunk of) its weight row.
constexpr int MV_STAGE = 3584;
// Resident blocks per SM asked of the compiler for the one-row and streamed kernels (caps registers
// at 64), so that enough row loads are in flight to cover memory latency. The streamed kernels'
// launcher sizes their grid to at most this many blocks an SM (a format's stream_blocks_per_sm,
// runtime/quant.py).
constexpr int MV_MIN_BLOCKS = 8;
// The same for matvec_q8_paired, by format: at 8 (64 registers) its two rows' state spilled. On the
// H200 (2026-11-29) the LM head product took, at 8 / 6 / 7 blocks, MXFP4 122.4 / 107.8 / 104.8 us,
// Q4_K 107.6 / 97.8 / 95.4, Q8_0 182.3 / 154.1 / 162.0; formats with a faster setting specialize it.
template <class F>
struct PairedMinBlocks {
    static constexpr int value = 6;
};

// Rows per warp of the float32-activation matvec. Measured on an H100 (2026-11-24), 4 rows per warp
// was slower than 1 (fewer warps in flight), so it is 1. (On int8 activations, LM-head-sized
// products take two rows a warp: matvec_q8_paired.)
__host__ __device__ constexpr int mv_rows_per_warp(int) { return 1; }

// The aligned 32-bit word at shared-memory address `at` (from __cvta_generic_to_shared): an explicit
// ld.shared, as the compiler loses the address space of pointers rebuilt from integers (generic loads).
// Not volatile, so that a load whose word goes unused is dropped; the clobber keeps it between the
// barriers around it.
__device__ __forceinline__ uint32_t lds_word(uint32_t at) {
    uint32_t v;
    asm("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(at) : "memory");
    return v;
}

// The byte at shared-memory address `at`, as lds_word.
__device__ __forceinline__ uint32_t lds_byte(uint32_t at) {
    uint32_t v;
    asm("ld.shared.u8 %0, [%1];" : "=r"(v) : "r"(at) : "memory");
    return v;
}

// 32 bits starting at any byte of shared memory: two aligned words and a funnel shift.
__device__ __forceinline__ uint32_t lds_u32_any(const uint8_t* p) {
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(p), at = a & ~3u;
    return __funnelshift_r(lds_word(at), lds_word(at + 4), (a & 3) * 8);
}

// Byte K of b as an exact float minus `bias`, without the quarter-rate integer conversion:
// the bits 0x4B0000bb are the float 2^23 + bb.
template <int K>
__device__ __forceinline__ float byte_to_float(uint32_t b, float bias = 0.f) {
    return __uint_as_float(__byte_perm(b, 0x4B000000u, 0x7650 | K)) - (8388608.f + bias);
}

__device__ __forceinline__ float dot4(float4 a, float b0, float b1, float b2, float b3) {
    return a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
}

// acc[i] += d * (x row i . the 8 bytes of lo, hi, each taken as an exact float minus `bias`): the
// dot of an 8-weight group whose integer values sit one per byte (xv[i] as in a format's dot).
template <int NR>
__device__ __forceinline__ void dot_byte_group(uint32_t lo, uint32_t hi, float bias, float d,
                                               const float4 (&xv)[NR][2], float (&acc)[NR]) {
    const float v0 = byte_to_float<0>(lo, bias), v1 = byte_to_float<1>(lo, bias);
    const float v2 = byte_to_float<2>(lo, bias), v3 = byte_to_float<3>(lo, bias);
    const float v4 = byte_to_float<0>(hi, bias), v5 = byte_to_float<1>(hi, bias);
    const float v6 = byte_to_float<2>(hi, bias), v7 = byte_to_float<3>(hi, bias);
#pragma unroll
    for (int i = 0; i < NR; ++i) acc[i] += d * (dot4(xv[i][0], v0, v1, v2, v3) + dot4(xv[i][1], v4, v5, v6, v7));
}

// Generic dot product of one decode group (formats without a faster one): decode to floats, then
// fp32 FMAs. xv[i][q] holds x row i at positions F::run_start(g, q) .. + 3.
template <class F, int NR>
__device__ __forceinline__ void dot_decoded(const uint8_t* blk, int g, const float4 (&xv)[NR][F::GW / 4],
                                            float (&acc)[NR]) {
    float v[F::GW];
    F::decode(blk, g, v);
#pragma unroll
    for (int q = 0; q < F::GW / 4; ++q)
#pragma unroll
        for (int i = 0; i < NR; ++i) acc[i] += dot4(xv[i][q], v[4 * q], v[4 * q + 1], v[4 * q + 2], v[4 * q + 3]);
}

// Copies blocks b0 .. b0 + nb - 1 of R weight rows (raw bytes at wrows[r]) into the warp's shared
// stage (MV_STAGE + 16 bytes; a slot of MV_STAGE / R bytes per row) with coalesced 16-byte cp.async
// copies, all issued before any is waited for, whatever the block size; blocks[r] is where row r's
// block b0 starts there. cp.async holds no registers, so loads issued before the call (a lane's
// first activations) stay in flight beside the weights. The copy keeps its global address modulo
// 16, so a format's alignment assumptions hold in shared memory too. Callers __syncwarp() before
// staging the next chunk.
template <class F, int R>
__device__ __forceinline__ void stage_rows_chunk(const uint8_t* const* wrows, int b0, int nb, uint8_t* stage,
                                                 const uint8_t* (&blocks)[R]) {
    constexpr int SLOT = (MV_STAGE / R) & ~15;
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const uintptr_t src = reinterpret_cast<uintptr_t>(wrows[r] + (size_t)b0 * F::BYTES);
        const uint8_t* src16 = reinterpret_cast<const uint8_t*>(src & ~uintptr_t(15));
        const int off = (int)(src & 15);
        const int n16 = (off + nb * F::BYTES + 15) >> 4;
        for (int k = lane; k < n16; k += 32) cp_async16(stage + r * SLOT + 16 * k, src16 + 16 * k);
        blocks[r] = stage + r * SLOT + off;
    }
    cp_async_commit();
    cp_async_wait<0>();
    __syncwarp();
}

// Blocks per staged chunk of each of R rows; one 2880-wide row of MXFP4, Q5_0 or Q8_0 and one
// 3072-wide Q4_K row fit in one chunk, two MXFP4 or Q4_K rows too.
template <class F, int R = 1>
__host__ __device__ constexpr int mv_chunk_blocks() { return (((MV_STAGE / R) & ~15) - 16) / F::BYTES; }

// acc[i] += sum_c x[i][c] * W[row, c] over one weight row whose raw bytes start at wrow; x rows at
// or beyond n_x read row 0 instead (their sums are dropped). The row goes through shared memory in
// chunks (stage_rows_chunk); lanes then take decode groups in turn (consecutive lanes read
// consecutive x) and call F::dot.
template <class F, int NR>
__device__ __forceinline__ void matvec_row(const float* __restrict__ x, int n_x, const uint8_t* __restrict__ wrow,
                                           int n_cols, uint8_t* stage, float (&acc)[NR]) {
    const int lane = threadIdx.x & 31;
    const int n_blocks = n_cols / F::QK;
    for (int b0 = 0; b0 < n_blocks; b0 += mv_chunk_blocks<F>()) {
        const int nb = min(mv_chunk_blocks<F>(), n_blocks - b0);
        const uint8_t* const rows[1] = {wrow};
        const uint8_t* staged[1];
        stage_rows_chunk<F, 1>(rows, b0, nb, stage, staged);
        const uint8_t* blocks = staged[0];
        const float* xc = x + (size_t)b0 * F::QK;
#pragma unroll 2
        for (int G = lane; G < nb * F::NG; G += 32) {
            const int b = G / F::NG, g = G % F::NG;
            const float* xb = xc + (size_t)b * F::QK;
            float4 xv[NR][F::GW / 4];
#pragma unroll
            for (int i = 0; i < NR; ++i)
#pragma unroll
                for (int q = 0; q < F::GW / 4; ++q)
                    xv[i][q] = __ldg(reinterpret_cast<const float4*>(xb + (size_t)(i < n_x ? i : 0) * n_cols +
                                                                     F::run_start(g, q)));
            F::template dot<NR>(blocks + b * F::BYTES, g, xv, acc);
        }
        __syncwarp();
    }
}

// One weight row per warp: product(row, acc) adds row . x[i] into acc[0][i]; then
// out[i * n_out + row] = the warp's sum (+ bias[row] where bias is given) for i < n_x <= NR.
template <int NR, class RowProduct>
__device__ __forceinline__ void matvec_rows(RowProduct product, const float* bias, float* out, int n_x, int n_out) {
    const int row = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    if (row >= n_out) return;
    float acc[1][NR];
#pragma unroll
    for (int i = 0; i < NR; ++i) acc[0][i] = 0.f;
    product(row, acc);
    const float b = bias ? bias[row] : 0.f;
#pragma unroll
    for (int i = 0; i < NR; ++i) {
        const float s = warp_sum(acc[0][i]);
        if ((threadIdx.x & 31) == 0 && i < n_x) out[(size_t)i * n_out + row] = s + b;
    }
}

// The input row of (token, slot) pair p = t * k + j of an expert product, whose input holds a row
// per token (x_rows 1) or per slot (x_rows k): t * x_rows + (x_rows == 1 ? 0 : j).
__device__ __forceinline__ size_t expert_input_row(int p, int k, int x_rows) {
    const int t = p / k, j = p % k;
    return (size_t)t * x_rows + (x_rows == 1 ? 0 : j);
}

// MoE decode: pair p of blockIdx.y uses expert e = ids[p] and input row expert_input_row(p, ...);
// product(e, input_row, row, acc) adds W[e][row] . input into acc[0][0]; out[p, row] = the warp's
// sum + bias[e, row] (where given). Invalid ids give zeros.
template <class RowProduct>
__device__ __forceinline__ void matvec_expert_rows(RowProduct product, const int* ids, const float* bias, float* out,
                                                   int n_out, int k, int x_rows, int n_experts) {
    const int pair = blockIdx.y;
    const int row = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    if (row >= n_out) return;
    const int e = ids[pair];
    const bool valid = e >= 0 && e < n_experts;
    float acc[1][1] = {{0.f}};
    if (valid) product(e, expert_input_row(pair, k, x_rows), row, acc);
    const float s = warp_sum(acc[0][0]);
    if ((threadIdx.x & 31) == 0)
        out[(size_t)pair * n_out + row] = s + (valid && bias ? bias[(size_t)e * n_out + row] : 0.f);
}

// out[i, row] = sum_c x[i * n_cols + c] * W[row, c] (+ bias[row]); fp32 accumulation.
template <class F, int NR>
__device__ __forceinline__ void matvec(const float* x, const uint8_t* w, const float* bias, float* out, int n_x,
                                       int row_bytes, int n_cols, int n_out) {
    __shared__ __align__(16) uint8_t stage[MV_WARPS][MV_STAGE + 16];
    uint8_t* my_stage = stage[threadIdx.x >> 5];
    matvec_rows<NR>([&](int row, float (&acc)[1][NR]) {
        matvec_row<F, NR>(x, n_x, w + (size_t)row * row_bytes, n_cols, my_stage, acc[0]);
    }, bias, out, n_x, n_out);
}

template <class F>
__device__ __forceinline__ void matvec_experts(const float* x, const uint8_t* w, const int* ids, const float* bias,
                                               float* out, int expert_bytes, int row_bytes, int n_cols, int n_out,
                                               int k, int x_rows, int n_experts) {
    __shared__ __align__(16) uint8_t stage[MV_WARPS][MV_STAGE + 16];
    uint8_t* my_stage = stage[threadIdx.x >> 5];
    matvec_expert_rows([&](int e, size_t xr, int row, float (&acc)[1][1]) {
        matvec_row<F, 1>(x + xr * n_cols, 1, w + (size_t)e * expert_bytes + (size_t)row * row_bytes, n_cols, my_stage,
                         acc[0]);
    }, ids, bias, out, n_out, k, x_rows, n_experts);
}

// ---------------------------------------------------------------- int8-activation matvec (decode)
// Activations come quantized by q8_activations.cuh (the quantize_q8 kernel, or rms_norm_q8 as it
// writes the norm): for every 32 values of a row, int8 qx = rint(x / dx) with dx = max|x| / 127,
// and the pair (dx, dx * sum qx).
// A format that offers
//   UNITS    32-weight units per block,
//   HAS_MIN  whether unpack_q8 may give a nonzero m,
//   static __device__ void unpack_q8(const uint8_t* block, int u, int (&q)[8], float& d, float& m);
//            unit u as 32 int8 weights in order (4 per word) with w = d * q - m,
// gets products of d * dx * dp4a(q, qx) - m * (dx * sum qx) per unit: four multiply-adds per
// instruction instead of a conversion and a multiply-add per weight.

// N 32-bit words starting `shift` bits into the aligned word at shared-memory address `at`: N + 1
// aligned words and funnel shifts.
template <int N>
__device__ __forceinline__ void lds_words_at(uint32_t at, uint32_t shift, int (&w)[N]) {
    uint32_t words[N + 1];
#pragma unroll
    for (int i = 0; i <= N; ++i) words[i] = lds_word(at + 4 * i);
#pragma unroll
    for (int i = 0; i < N; ++i) w[i] = (int)__funnelshift_r(words[i], words[i + 1], shift);
}

// N 32-bit words starting at any byte of shared memory.
template <int N>
__device__ __forceinline__ void lds_words_any(const uint8_t* p, int (&w)[N]) {
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
    lds_words_at<N>(a & ~3u, (a & 3) * 8, w);
}

// One 32-value unit of an int8 activation row: its values (a: 0-15, b: 16-31) and (dx, dx * sum qx).
// Loaded through L1 but not as read-only data (__ldg): the kernels that wait for the kernel before
// them in-kernel (pdl.cuh) start while that kernel writes these activations, and read-only loads
// returned stale ones (wrong products in a graph after rms_norm_q8, H200).
struct Q8Activation {
    int4 a, b;
    float2 ds;
    __device__ __forceinline__ void load(const int8_t* xq_row, const float2* xds_row, int unit) {
        const int4* p = reinterpret_cast<const int4*>(xq_row + 32 * (size_t)unit);
        a = __ldca(p);
        b = __ldca(p + 1);
        ds = __ldca(xds_row + unit);
    }
};

// One unit of a weight row made ready for dp4a against int8 activations: by default unpack_q8's 32
// int8 values in order. A format may specialize it where another form takes fewer instructions
// (MXFP4). dot(a, b) = sum of the unit's integer weights times the 32 int8 activations a (0-15), b
// (16-31) as arrange left them; the unit's value is d * dx * dot - m * (dx * sum qx).
// arrange puts a unit of activations into the form dot and d expect (by default, as loaded); the
// kernels call it once per activation unit they load, so the streamed kernels pay it once a warp
// rather than once a row. table() is what dot needs besides the unit, made once a kernel, where all
// lanes of the warp take part (none by default).
template <class F>
struct Q8Unit {
    int q[8];
    float d, m;
    struct Table {};
    static __device__ __forceinline__ Table table() { return {}; }
    static __device__ __forceinline__ void arrange(Q8Activation&) {}
    __device__ __forceinline__ void load(const uint8_t* blk, int u) { F::unpack_q8(blk, u, q, d, m); }
    __device__ __forceinline__ int dot(int4 a, int4 b, Table) const {
        int s = __dp4a(q[0], a.x, 0);
        s = __dp4a(q[1], a.y, s);
        s = __dp4a(q[2], a.z, s);
        s = __dp4a(q[3], a.w, s);
        s = __dp4a(q[4], b.x, s);
        s = __dp4a(q[5], b.y, s);
        s = __dp4a(q[6], b.z, s);
        return __dp4a(q[7], b.w, s);
    }
};

// A lane's units of one row in the streamed kernels, unit t being U = lane + 32 t of the row at
// `blocks`: load(unit, t) fills unit as Q8Unit<F>::load would. A format may specialize it to work
// out what all of a lane's units share once a row (MXFP4: the misalignment of their words).
template <class F>
struct Q8LaneUnits {
    const uint8_t* first;
    int u;
    __device__ __forceinline__ Q8LaneUnits(const uint8_t* blocks, int lane)
        : first(blocks + (lane / F::UNITS) * F::BYTES), u(lane % F::UNITS) {}
    __device__ __forceinline__ void load(Q8Unit<F>& unit, int t) const {
        unit.load(first + t * (32 / F::UNITS) * F::BYTES, u);
    }
};

// A unit's share of a row's product: d * dx * dot - m * (dx * sum qx), the second term only where
// the format has a min (else ptxas keeps dx * sum qx live and subtracts 0 times it).
template <class F>
__device__ __forceinline__ float unit_product(const Q8Unit<F>& unit, const Q8Activation& x,
                                              typename Q8Unit<F>::Table table) {
    const float s = unit.d * x.ds.x * (float)unit.dot(x.a, x.b, table);
    return F::HAS_MIN ? s - unit.m * x.ds.y : s;
}

// acc[r][i] += sum_c qx[i][c] W_r[c] (scaled as above) over R weight rows (raw bytes at wrows[r])
// read together; like matvec_row otherwise. A lane's activations are loaded a unit ahead, the
// first ones before the weights, so that their latency hides behind the weights' (ncu on the H200
// had the unit loop waiting on them for about as long as on the weights).
template <class F, int NR, int R = 1>
__device__ __forceinline__ void matvec_q8_rows(const int8_t* __restrict__ xq, const float2* __restrict__ xds, int n_x,
                                               const uint8_t* const* wrows, int n_cols, uint8_t* stage,
                                               float (&acc)[R][NR]) {
    const int lane = threadIdx.x & 31;
    const int n_blocks = n_cols / F::QK, n_units = n_cols / 32;
    const auto table = Q8Unit<F>::table();
    const auto load_x = [&](Q8Activation (&x)[NR], int unit) {
#pragma unroll
        for (int i = 0; i < NR; ++i) {
            const size_t xr = i < n_x ? i : 0;
            x[i].load(xq + xr * n_cols, xds + xr * n_units, unit);
        }
    };
    for (int b0 = 0; b0 < n_blocks; b0 += mv_chunk_blocks<F, R>()) {
        const int nb = min(mv_chunk_blocks<F, R>(), n_blocks - b0);
        const int chunk_units = nb * F::UNITS;
        Q8Activation next[NR];
        if (lane < chunk_units) load_x(next, b0 * F::UNITS + lane);
        const uint8_t* blocks[R];
        stage_rows_chunk<F, R>(wrows, b0, nb, stage, blocks);
        for (int U = lane; U < chunk_units; U += 32) {
            Q8Unit<F> unit_of[R];
#pragma unroll
            for (int r = 0; r < R; ++r) unit_of[r].load(blocks[r] + (U / F::UNITS) * F::BYTES, U % F::UNITS);
            Q8Activation x[NR];
#pragma unroll
            for (int i = 0; i < NR; ++i) {
                x[i] = next[i];
                Q8Unit<F>::arrange(x[i]);
            }
            if (U + 32 < chunk_units) load_x(next, b0 * F::UNITS + U + 32);
#pragma unroll
            for (int i = 0; i < NR; ++i)
#pragma unroll
                for (int r = 0; r < R; ++r)
                    acc[r][i] += unit_product(unit_of[r], x[i], table);
        }
        __syncwarp();
    }
}

// The int8 twins of matvec and matvec_experts.
template <class F, int NR>
__device__ __forceinline__ void matvec_q8(const int8_t* xq, const float2* xds, const uint8_t* w, const float* bias,
                                          float* out, int n_x, int row_bytes, int n_cols, int n_out) {
    __shared__ __align__(16) uint8_t stage[MV_WARPS][MV_STAGE + 16];
    uint8_t* my_stage = stage[threadIdx.x >> 5];
    matvec_rows<NR>([&](int row, float (&acc)[1][NR]) {
        const uint8_t* rows[1] = {w + (size_t)row * row_bytes};
        matvec_q8_rows<F, NR, 1>(xq, xds, n_x, rows, n_cols, my_stage, acc);
    }, bias, out, n_x, n_out);
}

// matvec_q8 of one activation row with two weight rows a warp (2w and 2w + 1 of warp w), read
// together as in the fused gate + up product.
template <class F>
__device__ __forceinline__ void matvec_q8_paired(const int8_t* xq, const float2* xds, const uint8_t* w,
                                                 const float* bias, float* out, int row_bytes, int n_cols,
                                                 int n_out) {
    __shared__ __align__(16) uint8_t stage[MV_WARPS][MV_STAGE + 16];
    wait_for_prior_kernels();
    const int row = 2 * (blockIdx.x * MV_WARPS + (threadIdx.x >> 5));
    if (row >= n_out) return;
    const int second = min(row + 1, n_out - 1);  // an odd last row is read twice, written once
    const uint8_t* rows[2] = {w + (size_t)row * row_bytes, w + (size_t)second * row_bytes};
    float acc[2][1] = {{0.f}, {0.f}};
    matvec_q8_rows<F, 1, 2>(xq, xds, 1, rows, n_cols, stage[threadIdx.x >> 5], acc);
    const float s0 = warp_sum(acc[0][0]), s1 = warp_sum(acc[1][0]);
    if ((threadIdx.x & 31) == 0) {
        out[row] = s0 + (bias ? bias[row] : 0.f);
        if (second != row) out[second] = s1 + (bias ? bias[second] : 0.f);
    }
}

template <class F>
__device__ __forceinline__ void matvec_q8_experts(const int8_t* xq, const float2* xds, const uint8_t* w,
                                                  const int* ids, const float* bias, float* out, int expert_bytes,
                                                  int row_bytes, int n_cols, int n_out, int k, int x_rows,
                                                  int n_experts) {
    __shared__ __align__(16) uint8_t stage[MV_WARPS][MV_STAGE + 16];
    uint8_t* my_stage = stage[threadIdx.x >> 5];
    matvec_expert_rows([&](int e, size_t xr, int row, float (&acc)[1][1]) {
        const uint8_t* rows[1] = {w + (size_t)e * expert_bytes + (size_t)row * row_bytes};
        matvec_q8_rows<F, 1, 1>(xq + xr * n_cols, xds + xr * (n_cols / 32), 1, rows, n_cols, my_stage, acc);
    }, ids, bias, out, n_out, k, x_rows, n_experts);
}

// ---------------------------------------------------------------- streamed int8 matvec (decode)
// One activation row, rows at most STREAM_MAX_COLS wide: a warp takes every warps-th weight row
// (stream_warp_rows; the launcher sizes the grid to one wave of the format's
// stream_blocks_per_sm blocks an SM, runtime/quant.py). Its lanes load
// their activation units once, into registers, for all those rows, and the warp copies each row
// into one of two shared buffers (StreamBuffers) while it computes the row before. Per row that leaves
// the unit loop, the copy, the warp sum and the store: the ids, activations and address set-up of
// a one-row warp are paid once per warp.
constexpr int STREAM_MAX_COLS = 3072;
constexpr int STREAM_UNITS_PER_LANE = STREAM_MAX_COLS / 32 / 32;
// Shared bytes a block of a streamed kernel may take, so that MV_MIN_BLOCKS of them fit in an
// sm_90 SM (228 KB, 1 KB of it reserved a block). These kernels let the next kernel of a graph
// start early (allow_dependent_launch), so a chain of them parks the blocks of several kernels
// on the SMs, waiting. With 2 KB more a block, Q8_0's gate + up kernel (2 blocks an SM) fitted 7
// blocks an SM instead of 8 and took 40-46 us instead of 19 (H200), presumably because the blocks
// of a kernel that finds room for only part of its grid go wherever blocks exit first, unevenly.
constexpr int STREAM_BLOCK_SHARED_BYTES = 228 * 1024 / MV_MIN_BLOCKS - 1024;

// Whether a streamed kernel in items of R rows lets the next kernel of a graph start
// (allow_dependent_launch) only once its activation loads have been issued, rather than at its top.
// The next kernel copies its first item a warp before its own in-kernel wait: for two-row items
// about 6.5 MB at once (MXFP4's 2880-row experts), presumably then in the way of this kernel's
// activation loads, which follow its wait and which every row needs. H200: MXFP4's 2880-row
// experts 6.4-6.5 -> 6.1-6.2 us, 4096 rows 3.9-4.0 -> 3.8-3.9. The one-row kernels lost (Q8_0's
// 2880-row experts 9.5-9.6 -> 10.4, MXFP4's 5760-row 11.3-11.4 -> 11.7), and the two-row ones
// lost when the next kernel waited until the activations had arrived (MXFP4 4096 rows 4.6-4.7;
// docs/QUANT_FORMATS.md, twenty-third session).
template <int R>
__host__ __device__ constexpr bool next_kernel_after_activation_loads() { return R > 1; }

// Shared bytes of one item buffer: R of the widest rows and up to 15 bytes of misalignment.
template <class F, int R>
__host__ __device__ constexpr int stream_slot_bytes() {
    return (R * (STREAM_MAX_COLS / F::QK) * F::BYTES + 15 + 15) & ~15;
}

// A streamed warp's two item buffers and the copies that fill them. On sm_90 one lane starts a bulk
// copy of the whole item, whose arrival the buffer's mbarrier counts: per-lane cp.async copies took
// about 85 instructions a row (MXFP4 SASS: each 16-byte copy recomputed its 64-bit address under
// its own predicate), a quarter of the row's instructions. Before sm_90, each lane copies 16 bytes
// at a time (cp.async), a fixed count a lane with the excess masked off.
template <class F, int R = 1>
struct StreamBuffers {
    static constexpr int SLOT = stream_slot_bytes<F, R>();
    __align__(16) uint8_t row[2][SLOT];
    uint64_t landed[2];  // sm_90: buffer b's mbarrier; its k-th fill completes phase k

    // Readies the buffers and starts the warp's first fill (item 0); returns fill's pointer. Lane 0
    // initializes the mbarriers, not elect_one as in fill: with elect_one here ptxas laid MXFP4's
    // fused gate + up row loop out in 346 SASS instructions instead of 309 (sm_90).
    __device__ __forceinline__ const uint8_t* start(const uint8_t* src, int bytes) {
#if __CUDA_ARCH__ >= 900
        if ((threadIdx.x & 31) == 0) {
            mbarrier_init(&landed[0]);
            mbarrier_init(&landed[1]);
        }
        __syncwarp();
#endif
        return fill(0, src, bytes);
    }
    // Starts copying `bytes` bytes from src (any alignment) into buffer j & 1 (the warp's item j);
    // returns where src's first byte will be. Every lane calls it.
    __device__ __forceinline__ const uint8_t* fill(int j, const uint8_t* src, int bytes) {
        const uintptr_t at = reinterpret_cast<uintptr_t>(src);
        const int off = (int)(at & 15), n16 = (off + bytes + 15) >> 4;
        uint8_t* buf = row[j & 1];
        const uint8_t* src16 = reinterpret_cast<const uint8_t*>(at & ~(uintptr_t)15);
#if __CUDA_ARCH__ >= 900
        if (elect_one()) bulk_copy(buf, src16, 16 * n16, &landed[j & 1]);
#else
        constexpr int COPIES_PER_LANE = (SLOT / 16 + 31) / 32;
        const int lane = threadIdx.x & 31;
#pragma unroll
        for (int i = 0; i < COPIES_PER_LANE; ++i)
            if (lane + 32 * i < n16) cp_async16(buf + 16 * (lane + 32 * i), src16 + 16 * (lane + 32 * i));
        cp_async_commit();
#endif
        return buf + off;
    }
    // Waits until item j's row has landed; `next_started`: whether item j + 1's fill was started since.
    __device__ __forceinline__ void wait(int j, bool next_started) {
#if __CUDA_ARCH__ >= 900
        mbarrier_wait(&landed[j & 1], (j >> 1) & 1);
#else
        if (next_started)
            cp_async_wait<1>();
        else
            cp_async_wait<0>();
        __syncwarp();
#endif
    }
};

// A lane's units U = lane + 32 t of one activation row, in registers for all of a warp's rows.
// Loading and arranging are apart so that a kernel can have other loads on their way meanwhile:
// an expert kernel used to load them only once its expert id had come, and ncu (MXFP4 gate_up,
// H200) then had about a sixth of the warps' stall samples on the first use of the activations.
template <class F>
struct StreamActivations {
    Q8Activation unit[STREAM_UNITS_PER_LANE];

    // Starts loading the n_units units of the row at (xq, xds).
    __device__ __forceinline__ void load(const int8_t* xq, const float2* xds, int n_units) {
        const int lane = threadIdx.x & 31;
#pragma unroll
        for (int t = 0; t < STREAM_UNITS_PER_LANE; ++t)
            if (lane + 32 * t < n_units) unit[t].load(xq, xds, lane + 32 * t);
    }
    // Puts the loaded units into the form F's units expect (Q8Unit<F>::arrange).
    __device__ __forceinline__ void arrange(int n_units) {
        const int lane = threadIdx.x & 31;
#pragma unroll
        for (int t = 0; t < STREAM_UNITS_PER_LANE; ++t)
            if (lane + 32 * t < n_units) Q8Unit<F>::arrange(unit[t]);
    }
};

// The items of a streamed warp: item j starts at row(j) = first + j * stride, for j < count. The
// n_out / R items of R rows of a matrix are dealt to the gridDim.x * MV_WARPS warps of the grid's
// x extent in turn (warp w takes w, w + warps, ...), so that the rows all warps copy at one time lie
// together in memory: with a run of consecutive rows a warp, the MXFP4 5760-row expert product
// took 13.4 us against 13.0 now, Q8_0's 20.0 against 19.3 (H200). The grid is a full wave
// (runtime/quant_cuda.py, _stream_grid).
struct StreamRows {
    int first, stride, count;
    __device__ __forceinline__ int row(int j) const { return first + j * stride; }
};

// Sums over the warp of R values a lane (R = 1 or 2): lane l gets the sum of v[l / (32 / R)]. Two
// values take one exchange (each half of the warp keeps one and sends the other) and then the four
// steps of one sum: 6 shuffles, not 10.
template <int R>
__device__ __forceinline__ float warp_sums(const float (&v)[R]) {
    static_assert(R == 1 || R == 2, "one or two values a lane");
    if constexpr (R == 1) {
        return warp_sum(v[0]);
    } else {
        const bool upper = threadIdx.x & 16;
        float s = (upper ? v[1] : v[0]) + __shfl_xor_sync(0xffffffffu, upper ? v[0] : v[1], 16);
#pragma unroll
        for (int o = 8; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        return s;
    }
}

// The warp's items j = 0 .. rows.count - 1 of R rows each, s_{j,r} = (row rows.row(j) + r of the
// matrix at w) . x, handed over 32 / R items at a time: flush(first, count, s) with lane l holding
// s_{first + l % (32 / R), l / (32 / R)} for l % (32 / R) < count (every lane calls it). x has been
// loaded, not arranged; the caller has started the buffers on item 0 (R * row_bytes, like every
// item), whose rows land at `blocks`. Each next item's address is the last one's plus a step:
// working it out afresh took 7 to 9 more SASS instructions a row in the expert kernels (sm_90).
// Holding the sums in lanes lets one store write 32 of them: storing each row's sum with its bias
// took about 30 instructions a row (MXFP4 SASS), an eighth of the row's products.
template <class F, int R, class Flush>
__device__ __forceinline__ void matvec_q8_stream_rows(StreamActivations<F>& x, const uint8_t* blocks, int row_bytes,
                                                      int n_cols, const uint8_t* w, StreamRows rows, Flush flush,
                                                      StreamBuffers<F, R>& buffers) {
    constexpr int ITEMS = 32 / R;  // items a flush hands over
    const int lane = threadIdx.x & 31;
    const int n_units = n_cols / 32, n_items = rows.count;
    x.arrange(n_units);
    const auto table = Q8Unit<F>::table();
    const uintptr_t step = (uintptr_t)rows.stride * row_bytes;
    uintptr_t row = reinterpret_cast<uintptr_t>(w + (size_t)rows.first * row_bytes);
    float held = 0.f;
    for (int j = 0; j < n_items; ++j) {
        const bool more = j + 1 < n_items;
        row += step;
        const uint8_t* next =
            more ? buffers.fill(j + 1, reinterpret_cast<const uint8_t*>(row), R * row_bytes) : blocks;
        buffers.wait(j, more);
        float acc[R];
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = 0.f;
#pragma unroll
        for (int t = 0; t < STREAM_UNITS_PER_LANE; ++t) {
            if (lane + 32 * t < n_units) {
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    Q8Unit<F> unit;
                    Q8LaneUnits<F>(blocks + r * row_bytes, lane).load(unit, t);
                    acc[r] += unit_product(unit, x.unit[t], table);
                }
            }
        }
        const float s = warp_sums<R>(acc);
        if (lane % ITEMS == j % ITEMS) held = s;
        if (j % ITEMS == ITEMS - 1 || j + 1 == n_items) flush(j - j % ITEMS, j % ITEMS + 1, held);
        // Every lane's reads of this buffer have completed (their values went into the warp sum)
        // before the fill after next refills it.
        __syncwarp();
        blocks = next;
    }
}

// The warp's items of R rows (n_out a multiple of R).
template <int R>
__device__ __forceinline__ StreamRows stream_warp_rows(int n_out) {
    const int warps = gridDim.x * MV_WARPS, w = blockIdx.x * MV_WARPS + (threadIdx.x >> 5), items = n_out / R;
    return {R * w, R * warps, w < items ? (items - w + warps - 1) / warps : 0};
}

// out[r] = W[r] . x (+ bias[r]) for the rows r of the warp's items of R rows of the matrix at w (x
// and `blocks` as in matvec_q8_stream_rows: the first item's fill started).
template <class F, int R>
__device__ __forceinline__ void matvec_q8_stream_matrix(StreamActivations<F>& x, const uint8_t* blocks,
                                                        const uint8_t* w, const float* bias, float* out,
                                                        int row_bytes, int n_cols, StreamRows rows,
                                                        StreamBuffers<F, R>& buffers) {
    const auto flush = [&](int first, int count, float s) {
        constexpr int ITEMS = 32 / R;
        const int lane = threadIdx.x & 31;
        const int r = rows.row(first + lane % ITEMS) + lane / ITEMS;
        if (lane % ITEMS < count) out[r] = s + (bias ? bias[r] : 0.f);
    };
    matvec_q8_stream_rows<F, R>(x, blocks, row_bytes, n_cols, w, rows, flush, buffers);
}

template <class F, int R>
__device__ __forceinline__ void matvec_q8_stream(const int8_t* xq, const float2* xds, const uint8_t* w,
                                                 const float* bias, float* out, int row_bytes, int n_cols,
                                                 int n_out) {
    if constexpr (!next_kernel_after_activation_loads<R>()) allow_dependent_launch();
    __shared__ StreamBuffers<F, R> buffers[MV_WARPS];
    static_assert(sizeof(buffers) <= STREAM_BLOCK_SHARED_BYTES, "8 blocks an SM");
    const StreamRows rows = stream_warp_rows<R>(n_out);
    if (rows.count == 0) return;
    StreamBuffers<F, R>& mine = buffers[threadIdx.x >> 5];
    const uint8_t* blocks = mine.start(w + (size_t)rows.first * row_bytes, R * row_bytes);
    wait_for_prior_kernels();  // the first row's weights are on their way meanwhile
    StreamActivations<F> x;
    x.load(xq, xds, n_cols / 32);
    if constexpr (next_kernel_after_activation_loads<R>()) allow_dependent_launch();
    matvec_q8_stream_matrix<F, R>(x, blocks, w, bias, out, row_bytes, n_cols, rows, mine);
}

// A warp of a streamed expert kernel takes the items of R rows `rows` of pair p = blockIdx.y, whose
// output row is out + p * n_out. For a valid expert id e = ids[p], the warp's buffers are started
// on first_row(e) and product(e, x, pair_out, blocks) computes the rows, with x its input row
// loaded (StreamActivations) and blocks where the first item lands; an invalid id gives zeros in
// those rows.
// The input row is loaded before the id is read, so that the two loads overlap.
// IDS_READY: the ids were written before the kernel in front of this one started (the launcher's
// caller vouches for it, e.g. when that kernel is the quantization of this product's input), so
// the id is read and the first item's copy started before the in-kernel wait, while that kernel
// still runs. A template parameter: as a runtime flag it cost the fused gate + up kernel 37 SASS
// instructions a row and 0.4 us (MXFP4, H200).
template <class F, int R, bool IDS_READY, class FirstRow, class Product>
__device__ __forceinline__ void stream_expert_rows(const int8_t* xq, const float2* xds, int n_cols, const int* ids,
                                                   float* out, int n_out, int k, int x_rows, int n_experts,
                                                   StreamRows rows, StreamBuffers<F, R>& buffers, int row_bytes,
                                                   FirstRow first_row, Product product) {
    const int pair = blockIdx.y;
    if (rows.count == 0) return;
    const auto valid = [&](int e) { return e >= 0 && e < n_experts; };
    int e = 0;
    const uint8_t* blocks = nullptr;
    if constexpr (IDS_READY) {
        e = ids[pair];
        if (valid(e)) blocks = buffers.start(first_row(e), R * row_bytes);
    }
    wait_for_prior_kernels();  // the input comes from the kernel before, ids (unless ready) from the router
    const size_t xr = expert_input_row(pair, k, x_rows);
    StreamActivations<F> x;
    x.load(xq + xr * n_cols, xds + xr * (n_cols / 32), n_cols / 32);
    if constexpr (next_kernel_after_activation_loads<R>()) allow_dependent_launch();
    if constexpr (!IDS_READY) e = ids[pair];
    float* pair_out = out + (size_t)pair * n_out;
    if (!valid(e)) {
        for (int i = threadIdx.x & 31; i < R * rows.count; i += 32) pair_out[rows.row(i / R) + i % R] = 0.f;
        return;
    }
    if constexpr (!IDS_READY) blocks = buffers.start(first_row(e), R * row_bytes);
    product(e, x, pair_out, blocks);
}

// matvec_q8_experts streamed (ids_ready: IDS_READY of stream_expert_rows), in items of R rows.
template <class F, int R>
__device__ __forceinline__ void matvec_q8_experts_stream(const int8_t* xq, const float2* xds, const uint8_t* w,
                                                         const int* ids, const float* bias, float* out,
                                                         int expert_bytes, int row_bytes, int n_cols, int n_out, int k,
                                                         int x_rows, int n_experts, bool ids_ready) {
    if constexpr (!next_kernel_after_activation_loads<R>()) allow_dependent_launch();
    __shared__ StreamBuffers<F, R> buffers[MV_WARPS];
    static_assert(sizeof(buffers) <= STREAM_BLOCK_SHARED_BYTES, "8 blocks an SM");
    StreamBuffers<F, R>& mine = buffers[threadIdx.x >> 5];
    const StreamRows rows = stream_warp_rows<R>(n_out);
    const auto first_row = [&](int e) { return w + (size_t)e * expert_bytes + (size_t)rows.first * row_bytes; };
    const auto product = [&](int e, StreamActivations<F>& x, float* pair_out, const uint8_t* blocks) {
        matvec_q8_stream_matrix<F, R>(x, blocks, w + (size_t)e * expert_bytes,
                                      bias ? bias + (size_t)e * n_out : nullptr, pair_out, row_bytes, n_cols, rows,
                                      mine);
    };
    const auto rows_of_experts = [&](auto ready) {
        stream_expert_rows<F, R, decltype(ready)::value>(xq, xds, n_cols, ids, out, n_out, k, x_rows, n_experts,
                                                         rows, mine, row_bytes, first_row, product);
    };
    if (ids_ready)
        rows_of_experts(std::true_type{});
    else
        rows_of_experts(std::false_type{});
}

// Output rows a block of the streamed gate + up kernel takes at most (SWIGLU_BLOCK_ROWS in
// runtime/quant_cuda.py, which sizes the grid so that no block takes more). Few, to keep the
// kernel's shared memory within STREAM_BLOCK_SHARED_BYTES.
constexpr int SWIGLU_BLOCK_ROWS = 64;

// The rows of the gate + up kernel's warp that takes the block's slots first_slot, first_slot + 2,
// ...: block b's slot i is output row b + i * gridDim.x.
__device__ __forceinline__ StreamRows swiglu_warp_rows(int n_out, int first_slot) {
    const int n_blocks = gridDim.x;
    const int slots = blockIdx.x < n_out ? (n_out - blockIdx.x + n_blocks - 1) / n_blocks : 0;
    return {(int)blockIdx.x + first_slot * n_blocks, 2 * n_blocks,
            slots > first_slot ? (slots - first_slot + 1) / 2 : 0};
}

// matvec_q8_experts_swiglu streamed. Output rows are dealt to the blocks in turn (block b takes b,
// b + gridDim.x, ...), and a block's gate and up rows to its warps: warps 0 and 1 take the gate and
// the up row of the block's even-numbered rows, warps 2 and 3 of its odd-numbered ones. A row's
// two sums meet in a shared slot: each warp exchanges its sum into it, and the one that finds the
// other's sum there writes the SwiGLU. So the kernel's 2 * n_out rows spread over its warps as
// evenly as a plain product's. Dealt as (gate, up) pairs to single warps, 2880 rows gave some warps
// 6 gate and up rows where 5.45 is the average (1056 warps), or 12 where 10.9 is (528 warps, 11
// now): MXFP4's kernel took 13.0 us, now 11.9 (4 of 32 experts, H200).
// Its ids are never ready early (IDS_READY): in decode it follows the router that writes them.
template <class F>
__device__ __forceinline__ void matvec_q8_experts_swiglu_stream(
    const int8_t* xq, const float2* xds, const uint8_t* w_gate, const uint8_t* w_up, const int* ids,
    const float* gate_bias, const float* up_bias, float* out, int expert_bytes, int row_bytes, int n_cols, int n_out,
    int k, int x_rows, int n_experts, float alpha, float limit) {
    __shared__ StreamBuffers<F> buffers[MV_WARPS];
    // Slot i: the first of row i's two sums to come (the block's i-th row), with bit 32 set; 0: none yet.
    __shared__ unsigned long long first_sum[SWIGLU_BLOCK_ROWS];
    static_assert(sizeof(buffers) + sizeof(first_sum) <= STREAM_BLOCK_SHARED_BYTES, "8 blocks an SM");
    for (int i = threadIdx.x; i < SWIGLU_BLOCK_ROWS; i += blockDim.x) first_sum[i] = 0;
    __syncthreads();
    const int warp = threadIdx.x >> 5, is_up = warp & 1, first_slot = warp >> 1;
    StreamBuffers<F>& mine = buffers[warp];
    const StreamRows rows = swiglu_warp_rows(n_out, first_slot);
    const uint8_t* w = is_up ? w_up : w_gate;
    const float* bias = is_up ? up_bias : gate_bias;
    const auto first_row = [&](int e) { return w + (size_t)e * expert_bytes + (size_t)rows.first * row_bytes; };
    stream_expert_rows<F, 1, false>(xq, xds, n_cols, ids, out, n_out, k, x_rows, n_experts, rows, mine, row_bytes,
                                    first_row, [&](int e, StreamActivations<F>& x, float* pair_out,
                                                   const uint8_t* blocks) {
        const uint8_t* matrix = w + (size_t)e * expert_bytes;
        const auto flush = [&](int first, int count, float s) {
            const int j = first + (threadIdx.x & 31);
            if ((threadIdx.x & 31) >= count) return;
            const int row = rows.row(j);
            const float own = s + (bias ? bias[(size_t)e * n_out + row] : 0.f);
            const unsigned long long other =
                atomicExch(&first_sum[first_slot + 2 * j], (1ull << 32) | __float_as_uint(own));
            if (!other) return;
            const float theirs = __uint_as_float((unsigned)other);
            const float gate = is_up ? theirs : own, up = is_up ? own : theirs;
            pair_out[row] = swiglu_oai_of(gate, up, alpha, limit);
        };
        matvec_q8_stream_rows<F, 1>(x, blocks, row_bytes, n_cols, matrix, rows, flush, mine);
    });
}

// MoE gate and up projections and the SwiGLU between them, from int8 activations: one warp reads
// row `row` of the selected expert's gate and up weights together, and writes
// out[p, row] = swiglu_oai(gate . x + gate_bias[e, row], up . x + up_bias[e, row]) (biases optional).
template <class F>
__device__ __forceinline__ void matvec_q8_experts_swiglu(const int8_t* xq, const float2* xds, const uint8_t* w_gate,
                                                         const uint8_t* w_up, const int* ids, const float* gate_bias,
                                                         const float* up_bias, float* out, int expert_bytes,
                                                         int row_bytes, int n_cols, int n_out, int k, int x_rows,
                                                         int n_experts, float alpha, float limit) {
    __shared__ __align__(16) uint8_t stage[MV_WARPS][MV_STAGE + 16];
    const int pair = blockIdx.y;
    const int row = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    if (row >= n_out) return;
    const int e = ids[pair];
    if (e < 0 || e >= n_experts) {
        if ((threadIdx.x & 31) == 0) out[(size_t)pair * n_out + row] = 0.f;
        return;
    }
    const size_t xr = expert_input_row(pair, k, x_rows);
    const size_t at = (size_t)e * expert_bytes + (size_t)row * row_bytes;
    const uint8_t* const rows[2] = {w_gate + at, w_up + at};
    float acc[2][1] = {{0.f}, {0.f}};
    matvec_q8_rows<F, 1, 2>(xq + xr * n_cols, xds + xr * (n_cols / 32), 1, rows, n_cols, stage[threadIdx.x >> 5], acc);
    const float gate = warp_sum(acc[0][0]), up = warp_sum(acc[1][0]);
    if ((threadIdx.x & 31) == 0) {
        const size_t b = (size_t)e * n_out + row;
        out[(size_t)pair * n_out + row] =
            swiglu_oai_of(gate + (gate_bias ? gate_bias[b] : 0.f), up + (up_bias ? up_bias[b] : 0.f), alpha, limit);
    }
}

// ---------------------------------------------------------------- tensor-core matmul (prefill)
constexpr int MM_BM = 64;  // weight rows (outputs) per block
constexpr int MM_BN = 64;  // activation rows (tokens) per block
constexpr int MM_THREADS = 128;

// The raw weight blocks a BK-column K step of a tensor-core tile reads, per tile row: the whole
// block when a block spans several steps. They are copied with cp.async in 16-byte pieces from
// their aligned start (one piece more for any alignment), so a block keeps its global address
// modulo 16 in shared memory, as the formats' decoders assume.
template <class F, int BK>
struct RawStage {
    static constexpr int STEP_BLOCKS = BK >= F::QK ? BK / F::QK : 1;
    static constexpr int PIECES = (STEP_BLOCKS * F::BYTES + 15) / 16 + 1;
    static constexpr int ROW = PIECES * 16;
    static constexpr int BYTES = MM_BM * ROW;  // one buffer

    // raw bytes of tile row m (weight row m0 + m) from the first block step k0 reads
    static __device__ __forceinline__ const uint8_t* row_at(const uint8_t* w, int row_bytes, int m0, int m, int k0) {
        return w + (size_t)(m0 + m) * row_bytes + (size_t)(k0 / F::QK) * F::BYTES;
    }
    // Issues the copies of step k0 into buf (the caller commits them), spread over the block's
    // THREADS threads; rows past n_out are skipped.
    template <int THREADS = MM_THREADS>
    static __device__ __forceinline__ void copy(uint8_t* buf, const uint8_t* w, int row_bytes, int n_cols, int n_out,
                                                int m0, int k0) {
        constexpr int PL = (MM_BM * PIECES + THREADS - 1) / THREADS;  // pieces per thread
        if (k0 >= n_cols) return;
        const int nb = min(STEP_BLOCKS, n_cols / F::QK - k0 / F::QK);
#pragma unroll
        for (int l = 0; l < PL; ++l) {
            const int c = threadIdx.x + l * THREADS, m = c / PIECES, j = c % PIECES;
            if (c < MM_BM * PIECES && m0 + m < n_out) {
                const uintptr_t a = reinterpret_cast<uintptr_t>(row_at(w, row_bytes, m0, m, k0));
                if (j < ((int)(a & 15) + nb * F::BYTES + 15) >> 4)
                    cp_async16(buf + m * ROW + 16 * j, reinterpret_cast<const void*>((a & ~uintptr_t(15)) + 16 * j));
            }
        }
    }
    // where tile row m's first block of step k0 sits in buf: buf + m * ROW + this
    static __device__ __forceinline__ int offset(const uint8_t* w, int row_bytes, int m0, int m, int k0) {
        return (int)(reinterpret_cast<uintptr_t>(row_at(w, row_bytes, m0, m, k0)) & 15);
    }
};

template <class F>
struct MMSmem {
    static constexpr int LDK = F::TILE_K + 8;  // halves; padding against bank conflicts
    static constexpr int LDC = MM_BM + 4;      // floats
    static constexpr int IN_BYTES = (MM_BN + MM_BM) * LDK * 2;
    static constexpr int C_BYTES = MM_BN * LDC * 4;
    static constexpr int TILE_BYTES = IN_BYTES > C_BYTES ? IN_BYTES : C_BYTES;
    // Raw weight blocks staged a step ahead, in two buffers (RawStage), where it fits the 48 KiB of
    // static shared memory (2 KiB left for the kernels' own arrays); Q6_K and F32 decode straight
    // from global memory.
    using Raw = RawStage<F, F::TILE_K>;
    static constexpr int STAGE_BYTES = 2 * Raw::BYTES;
    static constexpr bool STAGED = TILE_BYTES + STAGE_BYTES <= 46 * 1024;
    static constexpr int BYTES = TILE_BYTES + (STAGED ? STAGE_BYTES : 0);
};


// orow[n][m0 + m] = sc[n * ldc + m] for the tile's n < n_rows tokens (of BN) and rows m0 + m <
// n_out, in coalesced stores by the block's THREADS threads; the tile was written to shared memory
// first (callers sync before; this syncs after).
template <int BN = MM_BN, int THREADS = MM_THREADS>
__device__ __forceinline__ void store_tile(const float* sc, int ldc, float* const* orow, int n_rows, int n_out,
                                           int m0) {
    for (int i = threadIdx.x; i < BN * MM_BM; i += THREADS) {
        const int n = i / MM_BM, m = i % MM_BM;
        if (n < n_rows && m0 + m < n_out) orow[n][m0 + m] = sc[n * ldc + m];
    }
    __syncthreads();
}

// One 64x64 output tile: orow[n][m0 + m] = sum_c xrow[n][c] * W[m0 + m, c] for n < n_rows.
// Weights are dequantized into shared memory as fp16, activations converted to fp16, the product
// accumulates in fp32 on tensor cores (wmma 16x16x16). Four warps, each a 32x32 sub-tile.
// Loads run a step ahead: the next K step's raw weight blocks (cp.async, where MMSmem::STAGED)
// and activations (registers) are in flight while this step decodes and multiplies. Unstaged
// formats issue all of a step's weight loads before using any.
template <class F>
__device__ void mma_tile(unsigned char* smem, const float* const* xrow, float* const* orow, int n_rows,
                         const uint8_t* __restrict__ w, int row_bytes, int n_cols, int n_out, int m0) {
    using namespace nvcuda;
    using S = MMSmem<F>;
    constexpr int BK = F::TILE_K, LDK = S::LDK, LDC = S::LDC;
    constexpr int GPT = BK / F::GW;                       // decode groups per tile row
    constexpr int XL = MM_BN * (BK / 4) / MM_THREADS;     // float4 of activations per thread per step
    constexpr int WL = MM_BM * GPT / MM_THREADS;          // weight groups per thread per step
    static_assert(MM_BN * (BK / 4) % MM_THREADS == 0 && MM_BM * GPT % MM_THREADS == 0, "tile split");
    __half* sx = reinterpret_cast<__half*>(smem);  // [MM_BN][LDK]
    __half* sw = sx + MM_BN * LDK;                 // [MM_BM][LDK]
    float* sc = reinterpret_cast<float*>(smem);    // [MM_BN][LDC], after the K loop
    uint8_t* stage = smem + S::TILE_BYTES;         // [2][RawStage] where STAGED
    const int tid = threadIdx.x, warp = tid >> 5, wn = warp >> 1, wm = warp & 1;
    const int n_blocks = n_cols / F::QK;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

    auto stage_step = [&](int k0, int buf) {
        S::Raw::copy(stage + buf * S::Raw::BYTES, w, row_bytes, n_cols, n_out, m0, k0);
        cp_async_commit();  // also when empty, so that one wait count serves every step
    };
    float4 xr[XL];
    auto load_x = [&](int k0) {
#pragma unroll
        for (int l = 0; l < XL; ++l) {
            const int i = tid + l * MM_THREADS, n = i / (BK / 4), c = (i % (BK / 4)) * 4;
            xr[l] = n < n_rows && k0 + c < n_cols ? *reinterpret_cast<const float4*>(xrow[n] + k0 + c)
                                                  : make_float4(0.f, 0.f, 0.f, 0.f);
        }
    };
    // group l of this thread in K step k0: its tile row m, block b and group g within the block
    auto group_at = [&](int l, int k0, int& m, int& b, int& g) {
        const int i = tid + l * MM_THREADS, G = k0 / F::GW + i % GPT;
        m = i / GPT, b = G / F::NG, g = G % F::NG;
    };
    auto store_group = [&](int m, int b, int g, int k0, const float* v) {
#pragma unroll
        for (int q = 0; q < F::GW / 4; ++q) store4(sw + m * LDK + b * F::QK + F::run_start(g, q) - k0, v + 4 * q);
    };

    if constexpr (S::STAGED) stage_step(0, 0);
    load_x(0);
    for (int k0 = 0, buf = 0; k0 < n_cols; k0 += BK, buf ^= 1) {
        if constexpr (S::STAGED) {
            stage_step(k0 + BK, buf ^ 1);
            cp_async_wait<1>();  // this step's pieces, copied by this thread, have landed
            __syncthreads();     // ... and everyone's
            const uint8_t* raw = stage + buf * S::Raw::BYTES;
#pragma unroll
            for (int l = 0; l < WL; ++l) {
                int m, b, g;
                group_at(l, k0, m, b, g);
                float v[F::GW];
                if (m0 + m < n_out && b < n_blocks) {
                    const int off = S::Raw::offset(w, row_bytes, m0, m, k0);
                    F::decode(raw + m * S::Raw::ROW + off + (b - k0 / F::QK) * F::BYTES, g, v);
                } else {
#pragma unroll
                    for (int j = 0; j < F::GW; ++j) v[j] = 0.f;
                }
                store_group(m, b, g, k0, v);
            }
        } else {
            float v[WL][F::GW];
#pragma unroll
            for (int l = 0; l < WL; ++l) {
                int m, b, g;
                group_at(l, k0, m, b, g);
                if (m0 + m < n_out && b < n_blocks) {
                    F::decode(w + (size_t)(m0 + m) * row_bytes + (size_t)b * F::BYTES, g, v[l]);
                } else {
#pragma unroll
                    for (int j = 0; j < F::GW; ++j) v[l][j] = 0.f;
                }
            }
#pragma unroll
            for (int l = 0; l < WL; ++l) {
                int m, b, g;
                group_at(l, k0, m, b, g);
                store_group(m, b, g, k0, v[l]);
            }
        }
#pragma unroll
        for (int l = 0; l < XL; ++l) {
            const int i = tid + l * MM_THREADS, n = i / (BK / 4), c = (i % (BK / 4)) * 4;
            const float f[4] = {xr[l].x, xr[l].y, xr[l].z, xr[l].w};
            store4(sx + n * LDK + c, f);
        }
        __syncthreads();
        if (k0 + BK < n_cols) load_x(k0 + BK);
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> bt[2];
#pragma unroll
            for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], sx + (wn * 32 + i * 16) * LDK + kk, LDK);
#pragma unroll
            for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(bt[j], sw + (wm * 32 + j * 16) * LDK + kk, LDK);
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], bt[j], acc[i][j]);
        }
        __syncthreads();
    }
    if constexpr (S::STAGED) cp_async_wait<0>();  // the last (empty) group
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
            wmma::store_matrix_sync(sc + (wn * 32 + i * 16) * LDC + wm * 32 + j * 16, acc[i][j], LDC,
                                    wmma::mem_row_major);
    __syncthreads();
    store_tile(sc, LDC, orow, n_rows, n_out, m0);
}

// out[t, :] = W @ x[t, :]; grid (ceil(n_out / MM_BM), ceil(n_tok / MM_BN)).
template <class F>
__device__ __forceinline__ void matmul(const float* x, const uint8_t* w, float* out, int row_bytes, int n_cols,
                                       int n_out, int n_tok) {
    __shared__ __align__(128) unsigned char smem[MMSmem<F>::BYTES];
    __shared__ const float* xrow[MM_BN];
    __shared__ float* orow[MM_BN];
    const int n0 = blockIdx.y * MM_BN;
    if (threadIdx.x < MM_BN) {
        const int t = min(n0 + (int)threadIdx.x, n_tok - 1);
        xrow[threadIdx.x] = x + (size_t)t * n_cols;
        orow[threadIdx.x] = out + (size_t)t * n_out;
    }
    __syncthreads();
    mma_tile<F>(smem, xrow, orow, min(MM_BN, n_tok - n0), w, row_bytes, n_cols, n_out, blockIdx.x * MM_BM);
}

// The grouped expert products' grid: (row tiles, tiles of the routing table runtime.cuda.ops.
// expert_tiles made). For each routing tile this block takes (blockIdx.y, + gridDim.y, ...), calls
// tile(e, pairs, n) with the n <= BN (token, slot) pairs p = t * k + j that chose expert e, at
// pairs[0 .. n) in global memory; every thread of the block calls it, and tile is called by all.
template <class Tile>
__device__ __forceinline__ void for_expert_tiles(const int* sorted, const int4* tiles, int n_tiles, Tile tile) {
    for (int i = blockIdx.y; i < n_tiles; i += gridDim.y) {
        const int4 t = tiles[i];
        if (t.z == 0) return;  // the table's empty tiles come after its last
        tile(t.x, sorted + t.y, t.z);
    }
}

// MoE prefill: block (r, .) multiplies row tile r of an expert by the pairs of each routing tile it
// takes (for_expert_tiles); experts nobody chose are never read.
// out[t, j, :] = W[ids[t, j]] @ x[t, x_rows == 1 ? 0 : j, :]. Pairs with an invalid id are left
// unwritten.
template <class F>
__device__ __forceinline__ void matmul_experts(const float* x, const uint8_t* w, const int* sorted, const int4* tiles,
                                               float* out, int expert_bytes, int row_bytes, int n_cols, int n_out,
                                               int n_tiles, int k, int x_rows) {
    __shared__ __align__(128) unsigned char smem[MMSmem<F>::BYTES];
    __shared__ const float* xrow[MM_BN];
    __shared__ float* orow[MM_BN];
    const int tid = threadIdx.x;
    for_expert_tiles(sorted, tiles, n_tiles, [&](int e, const int* pairs, int n) {
        if (tid < n) {
            const int p = pairs[tid];
            xrow[tid] = x + expert_input_row(p, k, x_rows) * n_cols;
            orow[tid] = out + (size_t)p * n_out;
        }
        __syncthreads();
        mma_tile<F>(smem, xrow, orow, n, w + (size_t)e * expert_bytes, row_bytes, n_cols, n_out, blockIdx.x * MM_BM);
    });
}

}  // namespace plugrt

#define PLUGRT_QUANT_KERNELS(P, F)                                                                              \
    extern "C" __global__ void P##_dequant_f32(const uint8_t* w, const int* ids, float* out, int row_bytes,     \
                                               int n_cols, int n_rows, int n_src_rows) {                        \
        plugrt::dequant_rows<F, float>(w, ids, out, row_bytes, n_cols, n_rows, n_src_rows);                     \
    }                                                                                                           \
    extern "C" __global__ void P##_dequant_f16(const uint8_t* w, const int* ids, __half* out, int row_bytes,    \
                                               int n_cols, int n_rows, int n_src_rows) {                        \
        plugrt::dequant_rows<F, __half>(w, ids, out, row_bytes, n_cols, n_rows, n_src_rows);                    \
    }                                                                                                           \
    extern "C" __global__ void P##_dequant_bf16(const uint8_t* w, const int* ids, __nv_bfloat16* out,           \
                                                int row_bytes, int n_cols, int n_rows, int n_src_rows) {        \
        plugrt::dequant_rows<F, __nv_bfloat16>(w, ids, out, row_bytes, n_cols, n_rows, n_src_rows);             \
    }                                                                                                           \
    PLUGRT_MATVEC_KERNEL(P, F, 1)                                                                               \
    PLUGRT_MATVEC_KERNEL(P, F, 2)                                                                               \
    PLUGRT_MATVEC_KERNEL(P, F, 4)                                                                               \
    PLUGRT_MATVEC_KERNEL(P, F, 8)                                                                               \
    extern "C" __global__ void __launch_bounds__(plugrt::MV_WARPS * 32, plugrt::MV_MIN_BLOCKS)                  \
        P##_matvec_experts(const float* x, const uint8_t* w, const int* ids, const float* bias, float* out,      \
                           int expert_bytes, int row_bytes, int n_cols, int n_out, int k, int x_rows,           \
                           int n_experts) {                                                                     \
        plugrt::matvec_experts<F>(x, w, ids, bias, out, expert_bytes, row_bytes, n_cols, n_out, k, x_rows,      \
                                  n_experts);                                                                   \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(plugrt::MM_THREADS)                                            \
        P##_matmul(const float* x, const uint8_t* w, float* out, int row_bytes, int n_cols, int n_out,          \
                   int n_tok) {                                                                                 \
        plugrt::matmul<F>(x, w, out, row_bytes, n_cols, n_out, n_tok);                                          \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(plugrt::MM_THREADS)                                            \
        P##_matmul_experts(const float* x, const uint8_t* w, const int* sorted, const int4* tiles, float* out,  \
                           int expert_bytes, int row_bytes, int n_cols, int n_out, int n_tiles, int k,          \
                           int x_rows) {                                                                        \
        plugrt::matmul_experts<F>(x, w, sorted, tiles, out, expert_bytes, row_bytes, n_cols, n_out, n_tiles, k, \
                                  x_rows);                                                                      \
    }

#define PLUGRT_MATVEC_KERNEL(P, F, NR)                                                                          \
    extern "C" __global__ void __launch_bounds__(plugrt::MV_WARPS * 32, NR == 1 ? plugrt::MV_MIN_BLOCKS : 1)    \
        P##_matvec_nr##NR(const float* x, const uint8_t* w, const float* bias, float* out, int n_x,            \
                          int row_bytes, int n_cols, int n_out) {                                               \
        plugrt::matvec<F, NR>(x, w, bias, out, n_x, row_bytes, n_cols, n_out);                                  \
    }

// The int8-activation products of a format with UNITS and unpack_q8 (see matvec_q8_rows).
#define PLUGRT_Q8_KERNELS(P, F)                                                                                 \
    PLUGRT_MATVEC_Q8_KERNEL(P, F, 1)                                                                            \
    PLUGRT_MATVEC_Q8_KERNEL(P, F, 2)                                                                            \
    PLUGRT_MATVEC_Q8_KERNEL(P, F, 4)                                                                            \
    PLUGRT_MATVEC_Q8_KERNEL(P, F, 8)                                                                            \
    extern "C" __global__ void __launch_bounds__(plugrt::MV_WARPS * 32, plugrt::PairedMinBlocks<F>::value)      \
        P##_matvec_q8_paired(const int8_t* xq, const float2* xds, const uint8_t* w, const float* bias,          \
                             float* out, int row_bytes, int n_cols, int n_out) {                                \
        plugrt::allow_dependent_launch();                                                                       \
        plugrt::matvec_q8_paired<F>(xq, xds, w, bias, out, row_bytes, n_cols, n_out);                           \
    }                                                                                                           \
    PLUGRT_Q8_STREAM_KERNELS(P, F, 1, )                                                                         \
    extern "C" __global__ void __launch_bounds__(plugrt::MV_WARPS * 32, plugrt::MV_MIN_BLOCKS)                  \
        P##_matvec_q8_experts(const int8_t* xq, const float2* xds, const uint8_t* w, const int* ids,            \
                              const float* bias, float* out, int expert_bytes, int row_bytes, int n_cols,       \
                              int n_out, int k, int x_rows, int n_experts) {                                    \
        plugrt::matvec_q8_experts<F>(xq, xds, w, ids, bias, out, expert_bytes, row_bytes, n_cols, n_out, k,     \
                                     x_rows, n_experts);                                                        \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(plugrt::MV_WARPS * 32, plugrt::MV_MIN_BLOCKS)                  \
        P##_matvec_q8_experts_swiglu_stream(                                                                    \
            const int8_t* xq, const float2* xds, const uint8_t* w_gate, const uint8_t* w_up, const int* ids,    \
            const float* gate_bias, const float* up_bias, float* out, int expert_bytes, int row_bytes,          \
            int n_cols, int n_out, int k, int x_rows, int n_experts, float alpha, float limit) {                \
        plugrt::allow_dependent_launch();                                                                       \
        plugrt::matvec_q8_experts_swiglu_stream<F>(xq, xds, w_gate, w_up, ids, gate_bias, up_bias, out,         \
                                                   expert_bytes, row_bytes, n_cols, n_out, k, x_rows,           \
                                                   n_experts, alpha, limit);                                    \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(plugrt::MV_WARPS * 32, plugrt::MV_MIN_BLOCKS)                  \
        P##_matvec_q8_experts_swiglu(const int8_t* xq, const float2* xds, const uint8_t* w_gate,               \
                                     const uint8_t* w_up, const int* ids, const float* gate_bias,               \
                                     const float* up_bias, float* out, int expert_bytes, int row_bytes,         \
                                     int n_cols, int n_out, int k, int x_rows, int n_experts, float alpha,      \
                                     float limit) {                                                             \
        plugrt::matvec_q8_experts_swiglu<F>(xq, xds, w_gate, w_up, ids, gate_bias, up_bias, out, expert_bytes,  \
                                            row_bytes, n_cols, n_out, k, x_rows, n_experts, alpha, limit);      \
    }

// The streamed plain and expert products in items of R rows, named with SUFFIX.
#define PLUGRT_Q8_STREAM_KERNELS(P, F, R, SUFFIX)                                                                \
    extern "C" __global__ void __launch_bounds__(plugrt::MV_WARPS * 32, plugrt::MV_MIN_BLOCKS)                  \
        P##_matvec_q8_stream##SUFFIX(const int8_t* xq, const float2* xds, const uint8_t* w, const float* bias,  \
                                     float* out, int row_bytes, int n_cols, int n_out) {                        \
        plugrt::matvec_q8_stream<F, R>(xq, xds, w, bias, out, row_bytes, n_cols, n_out);                        \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(plugrt::MV_WARPS * 32, plugrt::MV_MIN_BLOCKS)                  \
        P##_matvec_q8_experts_stream##SUFFIX(const int8_t* xq, const float2* xds, const uint8_t* w,             \
                                             const int* ids, const float* bias, float* out, int expert_bytes,   \
                                             int row_bytes, int n_cols, int n_out, int k, int x_rows,           \
                                             int n_experts, int ids_ready) {                                    \
        plugrt::matvec_q8_experts_stream<F, R>(xq, xds, w, ids, bias, out, expert_bytes, row_bytes, n_cols,     \
                                               n_out, k, x_rows, n_experts, ids_ready != 0);                    \
    }

// A format's streamed products in two-row items as well (QuantFormat.two_row_stream_items): the
// launcher takes them where warps would take few rows one at a time (runtime/quant_cuda.py).
#define PLUGRT_Q8_TWO_ROW_STREAM_KERNELS(P, F) PLUGRT_Q8_STREAM_KERNELS(P, F, 2, _r2)

#define PLUGRT_MATVEC_Q8_KERNEL(P, F, NR)                                                                       \
    extern "C" __global__ void __launch_bounds__(plugrt::MV_WARPS * 32, NR == 1 ? plugrt::MV_MIN_BLOCKS : 1)    \
        P##_matvec_q8_nr##NR(const int8_t* xq, const float2* xds, const uint8_t* w, const float* bias,         \
                             float* out, int n_x, int row_bytes, int n_cols, int n_out) {                       \
        plugrt::matvec_q8<F, NR>(xq, xds, w, bias, out, n_x, row_bytes, n_cols, n_out);                         \
    }
