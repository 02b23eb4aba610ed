// F16 weights through the generic kernels.
#include "float_formats.cuh"

PLUGRT_QUANT_KERNELS(f16, F16)
