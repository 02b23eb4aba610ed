"""Products of one input by several weights, run as one product where the weights allow.

Attention's q, k and v all read the same normed hidden state. With their rows stacked into one
weight they take one kernel launch instead of three, and the small k and v products (512 rows on
gpt-oss-20b) no longer leave most of the GPU idle; ``split_columns`` then cuts the output (views,
so free, for one token). Weights of different ggml types cannot share a kernel: then each part
gets its own product.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.backend.base import Backend, Weight
from runtime.gguf.reader import GGUFFile, TensorInfo


@dataclass
class StackedLinear:
    #: one stacked weight, or one weight per part
    weights: list[Weight]
    #: float32 biases matching ``weights`` (None where there is none)
    biases: list[Any]
    #: output features of each part
    widths: tuple[int, ...]

    @classmethod
    def load(cls, gguf: GGUFFile, backend: Backend, names: list[str], bias_names: list[str],
             stacked_name: str, widths: tuple[int, ...] | None = None) -> "StackedLinear":
        """The tensors ``names`` (and their biases), stacked as ``stacked_name`` where their types
        and widths agree. ``widths``: the parts' output features (default: each tensor's rows; a
        file's own stacked tensor, such as GPT-2's QKV, names its parts here)."""
        infos = [gguf.tensors[name] for name in names]
        bias_infos = [gguf.tensors[name] for name in bias_names]
        widths = widths or tuple(info.shape[0] for info in infos)
        if _stackable(infos) and _stackable(bias_infos):
            weight = backend.weight(*_stack(gguf, infos, stacked_name))
            bias = backend.param(*_stack(gguf, bias_infos, f"{stacked_name}:bias")) if bias_infos else None
            return cls([weight], [bias], widths)
        weights = [backend.weight(info, gguf.raw(info.name)) for info in infos]
        biases = [backend.param(info, gguf.raw(info.name)) for info in bias_infos] or [None] * len(infos)
        return cls(weights, biases, widths)

    def __call__(self, backend: Backend, x: Any) -> tuple:
        """x[n, in] through every part: a tuple of [n, width] outputs."""
        if len(self.weights) == 1:
            return backend.split_columns(backend.linear(x, self.weights[0], self.biases[0]), self.widths)
        return tuple(backend.linear(x, w, b) for w, b in zip(self.weights, self.biases))


def _stackable(infos: list[TensorInfo]) -> bool:
    return len({(info.ggml_type, info.shape[1:]) for info in infos}) <= 1


def _stack(gguf: GGUFFile, infos: list[TensorInfo], name: str) -> tuple[TensorInfo, np.ndarray]:
    """One tensor of the rows of ``infos``, one after the other (a host copy of their bytes)."""
    if len(infos) == 1:
        return infos[0], gguf.raw(infos[0].name)
    raw = np.concatenate([np.asarray(gguf.raw(info.name), dtype=np.uint8).reshape(-1) for info in infos])
    shape = (sum(info.shape[0] for info in infos), *infos[0].shape[1:])
    return dataclasses.replace(infos[0], name=name, shape=shape, nbytes=raw.size), raw
