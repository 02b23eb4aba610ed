"""GGUF files: a hardened reader and a streaming writer."""
from runtime.gguf.reader import GGUFFile, TensorInfo, open_gguf
from runtime.gguf.writer import GGUFWriter, TensorSpec, Typed

__all__ = ["GGUFFile", "TensorInfo", "open_gguf", "GGUFWriter", "TensorSpec", "Typed"]
