// Keeps plugrt's stream busy for a while (plugrt profile): the host queues a whole forward call
// behind it, so the events around each op time the device, not the host's launch pace.
extern "C" __global__ void sleep_ns(unsigned long long ns) {
    unsigned long long start, now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do {
        __nanosleep(100000);
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    } while (now - start < ns);
}

// Reads n16 16-byte words at w, four loads in flight a thread (benchmarks: the fastest a launch
// reads those bytes, to set a product's time beside). A thread writes sink only when the xor of
// the words it read is one particular value, which keeps the loads.
extern "C" __global__ void read_bytes(const uint4* __restrict__ w, unsigned long long n16, unsigned* sink) {
    const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned s = 0;
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n16; i += 4 * stride) {
        uint4 v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = i + j * stride < n16 ? __ldcs(w + i + j * stride) : make_uint4(0, 0, 0, 0);
#pragma unroll
        for (int j = 0; j < 4; ++j) s ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
    }
    if (s == 0x9e3779b9u) *sink = s;
}
