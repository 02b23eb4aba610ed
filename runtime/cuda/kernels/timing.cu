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
