// F32 weights through the generic kernels.
#include "float_formats.cuh"

PLUGRT_QUANT_KERNELS(f32, F32)
