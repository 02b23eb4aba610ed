// MoE router and greedy argmax: selections with ties going to the lower index.
#include <climits>
#include "common.cuh"

// One warp per token: k rounds of a warp argmax over the not-yet-selected experts, then a softmax over
// the k selected logits (ids come out in descending logit order). Dynamic shared: k floats + k ints.
extern "C" __global__ void moe_router(const float* __restrict__ logits, int* __restrict__ ids,
                                      float* __restrict__ weights, int n_experts, int k) {
    extern __shared__ float selected_logit[];
    int* selected_id = (int*)(selected_logit + k);
    const float* row = logits + (size_t)blockIdx.x * n_experts;
    const int lane = threadIdx.x;
    for (int round = 0; round < k; ++round) {
        float best = -INFINITY;
        int best_id = INT_MAX;
        for (int e = lane; e < n_experts; e += 32) {
            bool taken = false;
            for (int j = 0; j < round; ++j) taken |= selected_id[j] == e;
            const float v = row[e];
            if (!taken && (v > best || (v == best && e < best_id))) {
                best = v;
                best_id = e;
            }
        }
        warp_argmax(best, best_id);
        if (lane == 0) {
            selected_logit[round] = best;
            selected_id[round] = best_id;
        }
        __syncwarp();
    }
    if (lane == 0) {
        float total = 0.f;
        for (int j = 0; j < k; ++j) total += expf(selected_logit[j] - selected_logit[0]);
        for (int j = 0; j < k; ++j) {
            ids[blockIdx.x * k + j] = selected_id[j];
            weights[blockIdx.x * k + j] = expf(selected_logit[j] - selected_logit[0]) / total;
        }
    }
}

// Greedy argmax in two stages, so that a 200k-entry row is read by many SMs at once (one block
// reading it alone is latency-bound, ~0.2 ms). Ties go to the lower index throughout.

// (value, index) of the block's best; thread 0 gets it (blockDim.x a multiple of 32).
__device__ __forceinline__ void block_argmax(float& best, int& best_id) {
    __shared__ float warp_best[32];
    __shared__ int warp_best_id[32];
    warp_argmax(best, best_id);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        warp_best[warp] = best;
        warp_best_id[warp] = best_id;
    }
    __syncthreads();
    if (warp == 0) {
        const bool present = lane < (int)(blockDim.x >> 5);
        best = present ? warp_best[lane] : -INFINITY;
        best_id = present ? warp_best_id[lane] : INT_MAX;
        warp_argmax(best, best_id);
    }
}

constexpr int ARGMAX_ITEMS = 8;  // logits per thread in stage 1: a block covers blockDim.x * 8

// Stage 1: block (p, row) -> the best of logits [p * span, (p + 1) * span) of its row.
extern "C" __global__ void argmax_partial(const float* __restrict__ logits, float* __restrict__ part_value,
                                          int* __restrict__ part_id, int vocab) {
    const int span = blockDim.x * ARGMAX_ITEMS, start = blockIdx.x * span;
    const float* row = logits + (size_t)blockIdx.y * vocab;
    float v[ARGMAX_ITEMS];
#pragma unroll
    for (int k = 0; k < ARGMAX_ITEMS; ++k) {
        const int i = start + k * blockDim.x + threadIdx.x;
        v[k] = i < vocab ? row[i] : -INFINITY;
    }
    float best = -INFINITY;
    int best_id = INT_MAX;
#pragma unroll
    for (int k = 0; k < ARGMAX_ITEMS; ++k) {  // indices grow with k: ties keep the earlier one
        const int i = start + k * blockDim.x + threadIdx.x;
        if (i < vocab && v[k] > best) {
            best = v[k];
            best_id = i;
        }
    }
    block_argmax(best, best_id);
    if (threadIdx.x == 0) {
        part_value[blockIdx.y * gridDim.x + blockIdx.x] = best;
        part_id[blockIdx.y * gridDim.x + blockIdx.x] = best_id;
    }
}

// Stage 2: one block per row over its n_parts partial results; ids out of range (an all-NaN row) -> 0.
extern "C" __global__ void argmax_final(const float* __restrict__ part_value, const int* __restrict__ part_id,
                                        int* __restrict__ ids, int n_parts, int vocab) {
    float best = -INFINITY;
    int best_id = INT_MAX;
    for (int p = threadIdx.x; p < n_parts; p += blockDim.x) {
        const float v = part_value[blockIdx.x * n_parts + p];
        const int i = part_id[blockIdx.x * n_parts + p];
        if (v > best || (v == best && i < best_id)) {
            best = v;
            best_id = i;
        }
    }
    block_argmax(best, best_id);
    if (threadIdx.x == 0) ids[blockIdx.x] = best_id < vocab ? best_id : 0;
}

// MoE prefill routing for the grouped expert products: the (token, slot) pairs p < n_pairs sorted
// by expert ids[p] into sorted[], and the work split into tiles of at most `tile` pairs of one
// expert: tiles[i] = (expert, first index into sorted, pairs), in expert order, then (0, 0, 0) up to
// max_tiles. Pairs with an id outside [0, n_experts) are left out. Within an expert the pairs come
// in no fixed order (each pair's product is the same wherever it lands). One block; dynamic shared
// memory: 2 * n_experts ints.
extern "C" __global__ void expert_tiles(const int* __restrict__ ids, int n_pairs, int n_experts, int tile,
                                        int max_tiles, int* __restrict__ sorted, int4* __restrict__ tiles) {
    extern __shared__ int pairs_of[];  // [n_experts] counts, then [n_experts] write cursors
    int* cursor = pairs_of + n_experts;
    for (int e = threadIdx.x; e < n_experts; e += blockDim.x) pairs_of[e] = 0;
    __syncthreads();
    for (int p = threadIdx.x; p < n_pairs; p += blockDim.x) {
        const int e = ids[p];
        if (e >= 0 && e < n_experts) atomicAdd(&pairs_of[e], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int first = 0, t = 0;
        for (int e = 0; e < n_experts; ++e) {
            cursor[e] = first;
            for (int s = 0; s < pairs_of[e]; s += tile) tiles[t++] = make_int4(e, first + s, min(tile, pairs_of[e] - s), 0);
            first += pairs_of[e];
        }
        for (; t < max_tiles; ++t) tiles[t] = make_int4(0, 0, 0, 0);
    }
    __syncthreads();
    for (int p = threadIdx.x; p < n_pairs; p += blockDim.x) {
        const int e = ids[p];
        if (e >= 0 && e < n_experts) sorted[atomicAdd(&cursor[e], 1)] = p;
    }
}
