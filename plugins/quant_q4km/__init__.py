"""The Q4_K_M plugin: every ggml type a Q4_K_M file holds (Q4_K and Q6_K, with Q5_0 and Q8_0
as the fall-backs for rows that are not a multiple of 256, e.g. GPT-OSS's 2880)."""
from runtime.hookspecs import hookimpl

from plugins.quant_q4km.q4_k import Q4_KFormat
from plugins.quant_q4km.q5_0 import Q5_0Format
from plugins.quant_q4km.q6_k import Q6_KFormat
from plugins.quant_q4km.q8_0 import Q8_0Format


@hookimpl
def register_quant_formats(register):
    for fmt in (Q8_0Format(), Q5_0Format(), Q4_KFormat(), Q6_KFormat()):
        register(fmt)
