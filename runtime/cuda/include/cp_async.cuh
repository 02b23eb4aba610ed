// Asynchronous global -> shared copies (cp.async, sm_80+) for the kernels' staged tiles.
#pragma once
#include <stdint.h>

namespace plugrt {

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"((uint32_t)__cvta_generic_to_shared(smem)),
                 "l"(gmem));
}

// cp.async of `bytes` (8 or 16) that writes zeros instead where !valid (src is then not read).
template <int BYTES>
__device__ __forceinline__ void cp_async_or_zero(void* smem, const void* gmem, bool valid) {
    const uint32_t dst = (uint32_t)__cvta_generic_to_shared(smem);
    if constexpr (BYTES == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;" ::"r"(dst), "l"(gmem), "r"(valid ? 8 : 0));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }

// Waits until at most N of this thread's commit groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

#if __CUDA_ARCH__ >= 900
// Bulk copies (cp.async.bulk, sm_90+): one thread starts a copy of a whole 16-byte-aligned range,
// done by the SM's copy engine, whose completion an mbarrier in shared memory counts in bytes.
__device__ __forceinline__ uint32_t shared_address(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

// An mbarrier that completes a phase when one thread has announced the bytes to expect
// (bulk_copy) and they have all landed; init is followed by a fence making it visible to the copy engine.
__device__ __forceinline__ void mbarrier_init(uint64_t* bar) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(shared_address(bar)) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

// Copies `bytes` (a multiple of 16) from src to dst (both 16-byte aligned), completing the current
// phase of bar. A caller refilling dst must have every earlier read of it completed first, e.g. by
// using the values read before the call (no proxy fence is issued: on the H200 the one it would
// take, fence.proxy.async, cost the 4096-row Q8_0 product 4.2 -> 4.7 us).
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, int bytes, uint64_t* bar) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes)
                 : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
                 ::"r"(shared_address(dst)), "l"(src), "r"(bytes), "r"(shared_address(bar)) : "memory");
}

// True in one lane of the (converged) warp, for the lane that starts a bulk copy. Under
// `lane == 0` ptxas wrapped the copy in a loop over the active lanes (ELECT, moving its operands
// into uniform registers, branch back), which elect.sync spares.
__device__ __forceinline__ bool elect_one() {
    uint32_t elected;
    asm volatile("{ .reg .pred p; elect.sync _|p, 0xffffffff; selp.u32 %0, 1, 0, p; }" : "=r"(elected));
    return elected;
}

// Waits until bar's phase of the given parity (0 for its first, 1 for its second, ...) has completed.
__device__ __forceinline__ void mbarrier_wait(uint64_t* bar, uint32_t parity) {
    uint32_t done;
    do {
        asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                     : "=r"(done) : "r"(shared_address(bar)), "r"(parity) : "memory");
    } while (!done);
}
#endif

}  // namespace plugrt
