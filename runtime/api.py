"""``runtime.load()``: from a GGUF path to a ready :class:`~runtime.model.Model`."""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Literal

from runtime.backend import Backend, get_backend
from runtime.backend.allocator import Allocator
from runtime.detect import detect
from runtime.errors import BackendUnavailableError
from runtime.gguf.reader import open_gguf
from runtime.memory import MemoryPlan, plan_load
from runtime.model import Model, ModelInfo
from runtime.plugins import registry
from runtime.progress import progress_bar
from runtime.provenance import verify
from runtime.tokenizer import tokenizer_from_gguf

log = logging.getLogger(__name__)

DEVICES = ("auto", "cuda", "cpu")


def resolve_device(device: str) -> str:
    """"auto" takes the GPU when one is usable, else the CPU; "cuda" must be usable."""
    if device not in DEVICES:
        raise BackendUnavailableError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    from runtime.cuda.device import available, context

    if device == "cuda":
        context()  # raises BackendUnavailableError with the reason
        return "cuda"
    return "cuda" if available() else "cpu"


def _build(gguf, adapter, config, backend: Backend, plan: MemoryPlan, show_progress: bool | None):
    """The runner, weights streamed to the device under a progress bar; on any failure everything
    the build allocated is freed before the error propagates."""
    with progress_bar(plan.upload_bytes, f"loading {Path(gguf.path).name}", show_progress) as bar:
        backend.upload_progress = bar.update
        try:
            with backend.allocator.transaction(f"loading {Path(gguf.path).name}"):
                return adapter.build(gguf, config, backend, max_context=plan.context_length)
        finally:
            backend.upload_progress = None


def load(path: str | os.PathLike | None = None, *, device: str = "auto", sha256: str | None = None,
         manifest: str | os.PathLike | None = None, context_length: int | Literal["auto"] | None = None,
         tokenizer: str | os.PathLike | None = None, show_progress: bool | None = None,
         vram_budget: int | str | None = None, allocator: Allocator | None = None,
         int8_activations: bool | None = None) -> Model:
    """Load a GGUF model.

    path: the GGUF file; None loads the default model a plugin provides (``plugrt[demo]``).
    device: "auto" (GPU when usable), "cuda" or "cpu".
    sha256 / manifest: refuse the file unless its hash matches (a trusted manifest is a JSON
        ``{file name: {"sha256", "size", "source"}}``); nothing is loaded on a mismatch.
    context_length: cap the KV cache below the model's context length; "auto": the largest
        context whose memory plan fits the budget.
    tokenizer: a tokenizer.json that replaces the GGUF vocabulary.
    vram_budget: device memory the model may use, bytes or a size like "24GiB" (the whole card:
        the CUDA context counts too). Default on CUDA: the free device memory minus a margin.
        A plan over budget raises :class:`OutOfDeviceMemory` with its table before anything is
        allocated (docs: MEMORY.md); an allocation failure during the load frees what it allocated.
    allocator: the :class:`~runtime.backend.allocator.Allocator` the model's memory comes from
        (default: a new one for the device; tests inject failing ones).
    int8_activations: on CUDA, run the products of formats with int8 kernels on activations
        quantized to int8 per 32 values (faster; about 0.5% error per product, docs: GPU.md).
        Default: on, unless ``PLUGRT_INT8_ACTIVATIONS=0``; False keeps float32 activations. The CPU
        backend is always float32.
    """
    start = time.perf_counter()
    reg = registry()
    path = Path(path if path is not None else reg.default_model_path())
    gguf = open_gguf(path)
    try:
        provenance = verify(gguf, sha256=sha256, manifest=manifest, show_progress=show_progress)
        adapter = detect(gguf, reg)
        config = adapter.config(gguf.metadata)
        backend = resolve_device(device)
        plan = plan_load(gguf, adapter, config, device=backend, context_length=context_length,
                         vram_budget=vram_budget)
        log.info("loading %s (%s) on %s", path.name, gguf.architecture, backend)
        options = {"int8_activations": int8_activations} if backend == "cuda" else {}
        runner = _build(gguf, adapter, config, get_backend(backend, reg, allocator, **options), plan, show_progress)
        tok = tokenizer_from_gguf(gguf.metadata, tokenizer_json=tokenizer, vocab_size=runner.vocab_size)
    except BaseException:
        gguf.close()
        raise
    info = ModelInfo(
        architecture=gguf.architecture, plugin=reg.plugin_for_architecture(gguf.architecture),
        quantization=dict(Counter(t.type_name for t in gguf.tensors.values())),
        n_params=sum(t.n_elements for t in gguf.tensors.values()),
        context_length=runner.context_length, backend=backend,
        load_s=time.perf_counter() - start, provenance=provenance)
    log.info("loaded %s in %.2f s", path.name, info.load_s)
    return Model(runner, tok, info)
