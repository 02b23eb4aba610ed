"""What the golden files record, computed from the current code (GT-043).

- ``dequant.json``: for every supported ggml type, the sha256 of the dequantization of fixed
  pseudo-random blocks (SHAKE-256 bytes: the same on every platform and NumPy version).
  Dequantization is elementwise IEEE arithmetic, so the hash is exact; NaN/Inf (random fp16
  scales) are mapped to numbers first because NaN payloads are not portable.
- ``logits_<name>.json``: logits of fixed token ids on the CPU backend for each synthetic preset
  and for the Gemma 3 270M Q4_K_M file: a hash of the logits rounded to ``ROUND_DECIMALS``, and
  raw values (per-position top-k, values at fixed token ids, logsumexp) that tests compare with
  a tolerance. The rounded hash detects any change on the platform that wrote it; the tolerance
  decides, so summation-order noise of another BLAS does not fail CI while a kernel or
  reference change does.

``scripts/update_golden.py`` rewrites the files; docs/VALIDATION.md says when to.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from runtime.ggml_types import GGMLType, block_geometry
from runtime.plugins import registry

GOLDEN_DIR = Path(__file__).parent
DEQUANT_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q5_0", "Q4_K", "Q6_K", "MXFP4")
DEQUANT_SHAPE = (8, 512)  # rows x elements: a multiple of every block size
PRESETS = ("gpt-oss-tiny", "gpt-oss-tiny-q4km", "gpt2-tiny", "llama-tiny", "qwen2-tiny")
PRESET_IDS = [1, 17, 42, 99, 256, 511, 7, 1000]
PROBE_IDS = [0, 3, 64, 100, 255, 300, 512, 640, 777, 1023]
GEMMA_PROMPT = "The capital of France is"
TOP_K = 5
ROUND_DECIMALS = 3
#: |got - want| <= RTOL * max|logits of that position| + ATOL
RTOL, ATOL = 1e-4, 1e-5


def pseudo_random_bytes(label: str, n: int) -> np.ndarray:
    return np.frombuffer(hashlib.shake_256(f"plugrt-golden/{label}".encode()).digest(n), dtype=np.uint8)


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def dequant_record(type_name: str) -> dict:
    ggml_type = GGMLType[type_name]
    fmt = registry().quant_format(ggml_type)
    rows, n = DEQUANT_SHAPE
    block, size = block_geometry(ggml_type)
    raw = pseudo_random_bytes(type_name, rows * n // block * size).reshape(rows, -1)
    values = np.asarray(fmt.dequantize(raw), dtype=np.float32)
    finite = np.isfinite(values)
    return {"input_sha256": sha256(raw), "shape": list(values.shape),
            "dequant_sha256": sha256(np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=-1.0)),
            "non_finite": int((~finite).sum()), "first_values": values[finite][:8].tolist()}


def dequant_goldens() -> dict:
    return {name: dequant_record(name) for name in DEQUANT_TYPES}


def logits_record(logits: np.ndarray, ids: list[int], probe_ids: list[int]) -> dict:
    logits = np.asarray(logits, dtype=np.float32)
    top = np.argsort(-logits, axis=-1, kind="stable")[:, :TOP_K]
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=-1)) + logits.max(axis=-1)
    return {"token_ids": ids, "shape": list(logits.shape),
            "rounded_sha256": sha256(np.round(logits, ROUND_DECIMALS) + 0.0),
            "top_ids": top.tolist(), "top_values": np.take_along_axis(logits, top, -1).tolist(),
            "probe_ids": probe_ids, "probe_values": logits[:, probe_ids].tolist(),
            "logsumexp": lse.tolist(), "max_abs": np.abs(logits).max(axis=-1).tolist()}


def available_presets() -> list[str]:
    known = registry().synthetic_presets
    return [name for name in PRESETS if name in known]


def preset_logits(name: str, workdir: Path) -> dict:
    import runtime
    from runtime.synth import write_synthetic

    path = write_synthetic(registry().synthetic_preset(name), workdir / f"{name}.gguf", seed=0)
    model = runtime.load(path, device="cpu")
    return logits_record(model.logits(PRESET_IDS), PRESET_IDS, PROBE_IDS)


def gemma_logits(path: Path) -> dict:
    import runtime

    model = runtime.load(path, device="cpu")
    ids = model.tokenizer.encode(GEMMA_PROMPT)
    return logits_record(model.logits(ids), ids, PROBE_IDS) | {"prompt": GEMMA_PROMPT}


def gemma_path() -> Path | None:
    """The default model's file when plugins.llama can provide it, else None."""
    from runtime.errors import PlugrtError

    try:
        from plugins.llama.default_model import default_model_path

        return default_model_path()
    except (ImportError, PlugrtError):
        return None
