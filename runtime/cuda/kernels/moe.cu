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

// One block per row (blockDim.x a multiple of 32): index of the largest logit, lowest index on ties.
extern "C" __global__ void argmax(const float* __restrict__ logits, int* __restrict__ ids, int vocab) {
    __shared__ float warp_best[32];
    __shared__ int warp_best_id[32];
    const float* row = logits + (size_t)blockIdx.x * vocab;
    float best = -INFINITY;
    int best_id = INT_MAX;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        const float v = row[i];
        if (v > best || (v == best && i < best_id)) {
            best = v;
            best_id = i;
        }
    }
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
        if (lane == 0) ids[blockIdx.x] = best_id < vocab ? best_id : 0;
    }
}
