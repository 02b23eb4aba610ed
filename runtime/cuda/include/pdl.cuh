// Programmatic dependent launch (PDL, sm_90+), used where a CUDA graph records the edge into a
// kernel as programmatic (runtime/cuda/graph.py does so for the kernels registered with
// runtime.cuda.graph.waits_in_kernel). Such a kernel may start while the kernel before it still
// runs, once every block of that one has called allow_dependent_launch or exited. Until it returns
// from wait_for_prior_kernels, it may only read what no kernel of the graph writes (weights, shapes),
// or what its caller vouches was written before the kernel in front of it started (expert ids:
// IDS_READY of stream_expert_rows, quant_kernels.cuh); afterwards every kernel before it has
// completed and its writes are visible. Every launch of a registered kernel must call
// wait_for_prior_kernels before it touches anything else, in each warp that reads or writes
// activations, and must not read what earlier kernels write as read-only data (__ldg,
// ld.global.nc): such loads may assume the data cannot change while the kernel runs, and returned
// stale activations on the H200 although the PTX had them after the wait. Without a programmatic
// edge (eager launches) both calls are no-ops.
#pragma once

namespace plugrt {

// Lets the next kernel of the graph start once every block of this grid has called this or exited.
__device__ __forceinline__ void allow_dependent_launch() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Waits until the kernels this one depends on have completed and their writes are visible.
__device__ __forceinline__ void wait_for_prior_kernels() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

}  // namespace plugrt
