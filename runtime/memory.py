"""Device memory planning: what a model needs on the device, decided before anything is allocated.

A plan adds up, from the GGUF tensor table and the architecture adapter (no weight data is read):
the weights as the backend stores them (raw ggml blocks, or float32 for the ops' parameters), the
KV cache layer by layer (sliding-window layers only their ring), the peak per-call activations and
kernel workspaces, and the CUDA runtime's own share (context, kernel modules). Device buffers are
counted at the CUDA driver's allocation granularity. :func:`plan_load` checks the plan against a
budget and raises :class:`~runtime.errors.OutOfDeviceMemory` with the table when it does not fit;
``context_length="auto"`` picks the largest context that does.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from runtime.architecture import ArchitectureAdapter
from runtime.errors import ConfigError, OutOfDeviceMemory
from runtime.gguf.reader import GGUFFile
from runtime.runner import MAX_LOGIT_ROWS_PER_CALL

log = logging.getLogger(__name__)

GiB, MiB = 1 << 30, 1 << 20
#: The default budget leaves this much of the free device memory unused (other allocations,
#: fragmentation, the driver's own growth).
SAFETY_MARGIN = 512 * MiB
#: The CUDA primary context of one process (code, stacks, driver heaps): 526.8 MiB measured on an
#: H100 with driver 580 (docs/MEMORY.md). Counted when a budget stands for a whole card
#: (``vram_budget=``); with the default budget the context exists already and is no longer free.
CUDA_CONTEXT_BYTES = 544 * MiB
#: plugrt's kernel modules once loaded (code, local-memory reservations): ~2 MiB measured likewise.
CUDA_MODULE_BYTES = 16 * MiB
#: cuMemAlloc hands out large buffers in 2 MiB pages and small ones in 512-byte steps.
_PAGE, _SMALL_STEP = 2 * MiB, 512

ContextRequest = int | Literal["auto"] | None


def device_bytes(nbytes: int) -> int:
    """Memory one device buffer of ``nbytes`` really takes."""
    step = _PAGE if nbytes >= _PAGE // 2 else _SMALL_STEP
    return -(-nbytes // step) * step


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Bytes in ``"24GiB"``, ``"500MB"``, ``"1.5G"``, ``"4096"``: KiB/MiB/GiB/TiB and bare K/M/G/T are
    powers of 1024, kB/MB/GB/TB powers of 1000."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match or (match.group(3) and not match.group(2)):
        raise ConfigError(f"cannot read {text!r} as a size (e.g. 24GiB, 500MB, 8G)")
    number, prefix, binary, byte = match.groups()
    power = "kmgt".index(prefix.lower()) + 1 if prefix else 0
    base = 1000 if prefix and byte and not binary else 1024
    return int(float(number) * base**power)


def format_size(nbytes: int) -> str:
    if abs(nbytes) >= GiB:
        return f"{nbytes / GiB:.2f} GiB"
    return f"{nbytes / MiB:.1f} MiB" if abs(nbytes) >= MiB else f"{nbytes / 1024:.1f} KiB"


@dataclass(frozen=True)
class PlanRow:
    item: str
    count: int
    nbytes: int


@dataclass(frozen=True)
class Budget:
    """How much device memory a load may plan for. ``whole_device``: the limit stands for a whole
    card, so the CUDA context counts against it too."""

    limit: int
    source: str
    whole_device: bool


@dataclass(frozen=True)
class MemoryPlan:
    model: str
    context_length: int
    max_tokens_per_call: int
    rows: tuple[PlanRow, ...]
    budget: Budget | None = None
    #: bytes of weight data copied to the device in their ggml type (the load's progress total)
    upload_bytes: int = field(default=0, compare=False)

    @property
    def total(self) -> int:
        return sum(r.nbytes for r in self.rows)

    @property
    def fits(self) -> bool:
        return self.budget is None or self.total <= self.budget.limit

    def table(self) -> str:
        lines = [f"{self.model}: context {self.context_length}, {self.max_tokens_per_call} tokens per call",
                 f"  {'item':<58}{'count':>7}{'size':>13}"]
        lines += [f"  {r.item:<58}{r.count:>7}{format_size(r.nbytes):>13}" for r in self.rows]
        lines.append(f"  {'total':<65}{format_size(self.total):>13}")
        if self.budget is not None:
            spare = self.budget.limit - self.total
            verdict = f"fits, {format_size(spare)} to spare" if spare >= 0 else f"{format_size(-spare)} over"
            lines.append(f"  {'budget: ' + self.budget.source:<65}{format_size(self.budget.limit):>13}  {verdict}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "context_length": self.context_length,
                "max_tokens_per_call": self.max_tokens_per_call, "rows": [asdict(r) for r in self.rows],
                "total": self.total, "budget": asdict(self.budget) if self.budget else None, "fits": self.fits}


def _weight_rows(gguf: GGUFFile, adapter: ArchitectureAdapter, config: BaseModel) -> tuple[list[PlanRow], int]:
    """The model's tensors as the backend stores them, one row per storage type; and the bytes
    uploaded in their ggml type."""
    as_float32 = adapter.float32_tensors(config)
    count: dict[str, int] = defaultdict(int)
    size: dict[str, int] = defaultdict(int)
    uploaded = 0
    for spec in adapter.weight_table(config):
        info = gguf.tensors.get(spec.name)
        if info is None:
            continue
        if spec.name in as_float32:
            key, nbytes = "float32 parameters (norms, biases, ...)", 4 * info.n_elements
        else:
            key, nbytes = f"weights {info.type_name}", info.nbytes
            uploaded += nbytes
        count[key] += 1
        size[key] += device_bytes(nbytes)
    return [PlanRow(key, count[key], size[key]) for key in sorted(size, key=lambda k: -size[k])], uploaded


def _kv_rows(adapter: ArchitectureAdapter, config: BaseModel, context: int, per_call: int) -> list[PlanRow]:
    groups: dict[tuple[int, int, int], int] = defaultdict(int)
    for layer in adapter.kv_cache_layout(config, context, per_call):
        groups[(layer.rows, layer.n_kv_heads, layer.head_dim)] += 1
    rows = []
    for (n_rows, heads, dim), layers in sorted(groups.items(), reverse=True):
        per_buffer = device_bytes(4 * n_rows * heads * dim)
        rows.append(PlanRow(f"KV cache: {layers} layers x {n_rows} rows x {heads} heads x {dim} (K and V)",
                            2 * layers, 2 * layers * per_buffer))
    return rows


def model_context_length(config: BaseModel) -> int:
    try:
        return int(config.context_length)
    except AttributeError:
        raise ConfigError(f"{type(config).__name__} has no context_length") from None


def plan_memory(gguf: GGUFFile, adapter: ArchitectureAdapter, config: BaseModel, context_length: int, *,
                budget: Budget | None = None, on_cuda: bool = True) -> MemoryPlan:
    """The device memory a model needs at ``context_length`` (capped at the model's own)."""
    context = min(int(context_length), model_context_length(config))
    per_call = min(adapter.max_tokens_per_call, context)  # a call never holds more tokens than fit
    logit_rows = min(MAX_LOGIT_ROWS_PER_CALL, per_call)
    weights, uploaded = _weight_rows(gguf, adapter, config)
    rows = [*weights, *_kv_rows(adapter, config, context, per_call),
            PlanRow(f"activations and kernel workspaces ({per_call} tokens per call, logits for {logit_rows})",
                    1, adapter.workspace_bytes(config, context, per_call, logit_rows))]
    if on_cuda:
        # the recorded decode step keeps every temporary of a one-token call alive, layer after
        # layer: estimated as a one-token call's workspace for each layer
        layers = len(adapter.kv_cache_layout(config, context, per_call))
        rows.append(PlanRow("decode step recorded as a CUDA graph", 1,
                            layers * adapter.workspace_bytes(config, context, 1, 1)))
        rows.append(PlanRow("CUDA kernel modules", 1, CUDA_MODULE_BYTES))
        if budget is None or budget.whole_device:
            rows.append(PlanRow("CUDA context", 1, CUDA_CONTEXT_BYTES))
    return MemoryPlan(Path(gguf.path).name, context, per_call,
                      tuple(rows), budget, upload_bytes=uploaded)


def budget_for(device: str, vram_budget: int | str | None) -> Budget | None:
    """The given budget (a whole card); else, on CUDA, the free device memory minus a margin;
    else (CPU) none."""
    if vram_budget is not None:
        limit = parse_size(vram_budget)
        if limit <= 0:
            raise ConfigError(f"vram_budget must be positive, got {vram_budget!r}")
        return Budget(limit, f"vram_budget {format_size(limit)}", whole_device=True)
    if device != "cuda":
        return None
    from runtime.backend.allocator import device_memory_info

    free, _total = device_memory_info()
    return Budget(max(0, free - SAFETY_MARGIN), f"free device memory - {format_size(SAFETY_MARGIN)}",
                  whole_device=False)


def _largest_fitting_context(gguf, adapter, config, budget: Budget, on_cuda: bool) -> int:
    """Binary search; a result of 256 or more is rounded down to a multiple of 256."""
    fits = lambda ctx: plan_memory(gguf, adapter, config, ctx, budget=budget, on_cuda=on_cuda).fits  # noqa: E731
    low, high = 0, model_context_length(config)
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low - low % 256 if low >= 256 else low


def plan_load(gguf: GGUFFile, adapter: ArchitectureAdapter, config: BaseModel, *, device: str,
              context_length: ContextRequest = None, vram_budget: int | str | None = None) -> MemoryPlan:
    """The plan a load will follow; raises :class:`OutOfDeviceMemory` (with the plan's table) when
    the requested context does not fit the budget, or when no context does."""
    on_cuda = device == "cuda"
    budget = budget_for(device, vram_budget)
    if context_length == "auto":
        context = model_context_length(config)
        if budget is not None:
            context = _largest_fitting_context(gguf, adapter, config, budget, on_cuda) or 1
    elif context_length is None:
        context = model_context_length(config)
    elif isinstance(context_length, int) and context_length > 0:
        context = context_length
    else:
        raise ConfigError(f"context_length must be a positive integer or 'auto', got {context_length!r}")
    plan = plan_memory(gguf, adapter, config, context, budget=budget, on_cuda=on_cuda)
    log.info("memory plan:\n%s", plan.table())
    if not plan.fits:
        hint = "" if context_length == "auto" else "; a smaller context_length (or 'auto') may fit"
        raise OutOfDeviceMemory(f"the model does not fit the device memory budget{hint}\n{plan.table()}")
    return plan
