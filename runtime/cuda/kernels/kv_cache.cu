// KV cache store: token i's [hkv, dh] keys and values go to cache row positions[i] % cap (ring buffer).
// One block per token.
extern "C" __global__ void kv_store(float* __restrict__ k_cache, float* __restrict__ v_cache,
                                    const float* __restrict__ k, const float* __restrict__ v,
                                    const int* __restrict__ positions, int row_size, int cap) {
    const size_t src = (size_t)blockIdx.x * row_size;
    const size_t dst = (size_t)(positions[blockIdx.x] % cap) * row_size;
    for (int e = threadIdx.x; e < row_size; e += blockDim.x) {
        k_cache[dst + e] = k[src + e];
        v_cache[dst + e] = v[src + e];
    }
}
