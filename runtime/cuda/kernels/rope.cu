// Rotary position embedding, NeoX pairing (i, i + dh/2). One block per (token, head), dh/2 threads.
//
// The angle is the float32 product pos * inv_freq (as in the reference); its sine and cosine are taken
// in double precision because the fast-math sinf/cosf lose accuracy at angles of 10^5 radians.
extern "C" __global__ void rope_neox(const float* x, const int* __restrict__ positions,
                                     const float* __restrict__ inv_freq, float* out,
                                     int heads, int dh, float attn_factor) {
    const int token = blockIdx.x / heads;
    const int half = dh >> 1;
    const size_t base = (size_t)blockIdx.x * dh;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const float angle = __fmul_rn((float)positions[token], inv_freq[i]);
        double s, c;
        sincos((double)angle, &s, &c);
        const float cs = (float)c * attn_factor, sn = (float)s * attn_factor;
        const float x1 = x[base + i], x2 = x[base + i + half];
        out[base + i] = x1 * cs - x2 * sn;
        out[base + i + half] = x2 * cs + x1 * sn;
    }
}
