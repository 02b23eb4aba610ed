"""plugrt: run GGUF language models on NVIDIA GPUs (PyCUDA) or on the CPU (NumPy)."""
from runtime.errors import (BackendUnavailableError, ConfigError, GGUFFormatError, OutOfDeviceMemory,
                            PluginConflictError, PlugrtError, ProvenanceError, UnsupportedArchitectureError,
                            UnsupportedQuantTypeError)

__version__ = "0.1.0"

__all__ = ["PlugrtError", "GGUFFormatError", "UnsupportedArchitectureError", "UnsupportedQuantTypeError",
           "PluginConflictError", "ProvenanceError", "ConfigError", "OutOfDeviceMemory",
           "BackendUnavailableError", "__version__"]
