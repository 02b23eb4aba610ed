"""Generation engine: sampling, stop rules, streaming, over any runner with ``reset``/``forward``."""
from runtime.engine.generate import Chunk, Completion, FinishReason, Runner, Stream, Timings, generate, stream
from runtime.engine.sampling import Sampler, SamplingParams

__all__ = ["Chunk", "Completion", "FinishReason", "Runner", "Sampler", "SamplingParams", "Stream", "Timings",
           "generate", "stream"]
