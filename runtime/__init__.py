"""plugrt: run GGUF language models on NVIDIA GPUs (PyCUDA) or on the CPU (NumPy).

    >>> import runtime
    >>> model = runtime.load("model.gguf", device="auto")
    >>> print(model.generate("The capital of France is", max_tokens=16, temperature=0).text)
"""
from runtime.api import load
from runtime.engine.generate import Chunk, Completion
from runtime.engine.sampling import SamplingParams
from runtime.errors import (BackendUnavailableError, ChatTemplateError, ConfigError, GenerationError,
                            GGUFFormatError, OutOfDeviceMemory, PluginConflictError, PlugrtError, ProvenanceError,
                            UnsupportedArchitectureError, UnsupportedQuantTypeError)
from runtime.model import ChatReply, Model, ModelInfo

__version__ = "0.1.0"

__all__ = ["load", "Model", "ModelInfo", "ChatReply", "SamplingParams", "Completion", "Chunk",
           "PlugrtError", "GGUFFormatError", "UnsupportedArchitectureError", "UnsupportedQuantTypeError",
           "PluginConflictError", "ProvenanceError", "ConfigError", "OutOfDeviceMemory",
           "BackendUnavailableError", "GenerationError", "ChatTemplateError", "__version__"]
