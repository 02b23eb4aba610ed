// GPT-OSS's clamped SwiGLU (ops_ref.swiglu_oai), shared by the elementwise op and the fused MoE kernel.
#pragma once

// g = min(gate, limit); u = clamp(up, -limit, limit); (u + 1) * g * sigmoid(alpha * g)
__device__ __forceinline__ float swiglu_oai_of(float gate, float up, float alpha, float limit) {
    const float g = fminf(gate, limit);
    const float u = fminf(fmaxf(up, -limit), limit);
    return (u + 1.f) * g / (1.f + expf(-alpha * g));
}
