"""Plain float weight types (F32, F16, BF16) served through the same kernels as quantized ones."""
from runtime.hookspecs import hookimpl

from plugins.quant_float.formats import BF16Format, F16Format, F32Format


@hookimpl
def register_quant_formats(register):
    for fmt in (F32Format(), F16Format(), BF16Format()):
        register(fmt)
