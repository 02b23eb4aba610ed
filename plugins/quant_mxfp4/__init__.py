"""The MXFP4 quantization plugin (ggml type 39, the format of GPT-OSS expert weights)."""
from runtime.hookspecs import hookimpl

from plugins.quant_mxfp4.mxfp4 import MXFP4Format


@hookimpl
def register_quant_formats(register):
    register(MXFP4Format())
