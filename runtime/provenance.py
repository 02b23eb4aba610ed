"""Model provenance: streaming SHA-256, trusted manifests and the provenance record."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from runtime.errors import ProvenanceError
from runtime.gguf.reader import GGUFFile
from runtime.progress import progress_bar

log = logging.getLogger(__name__)

HASH_CHUNK = 16 * 2**20


def sha256_file(path: str | os.PathLike, *, show_progress: bool | None = None) -> str:
    """Hex SHA-256 of a file, read in chunks with a progress bar."""
    path = Path(path)
    h = hashlib.sha256()
    with open(path, "rb") as f, progress_bar(path.stat().st_size, f"sha256 {path.name}", show_progress) as bar:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


class ManifestEntry(BaseModel):
    sha256: str
    size: int | None = None
    source: str | None = None


def read_manifest(path: str | os.PathLike) -> dict[str, ManifestEntry]:
    """A trusted manifest: JSON object ``{file name: {"sha256", "size", "source"}}``."""
    try:
        raw = json.loads(Path(path).read_text())
        return {name: ManifestEntry.model_validate(entry) for name, entry in raw.items()}
    except (OSError, ValueError, AttributeError) as e:
        raise ProvenanceError(f"manifest {path}: unreadable: {e}") from e


class ProvenanceRecord(BaseModel):
    """Where a loaded model came from; returned by the API and logged at load."""

    path: str
    size: int
    sha256: str | None
    architecture: str | None
    general: dict[str, Any] = Field(default_factory=dict, description="general.name/author/source... fields")
    tensor_types: dict[str, int] = Field(default_factory=dict, description="ggml type name -> tensor count")
    manifest_source: str | None = None
    checked_at: str


_GENERAL_FIELDS = ("name", "author", "organization", "version", "source.url", "source.huggingface.repository",
                   "url", "license", "basename", "size_label", "quantized_by", "file_type")


def _check_expected(path: Path, size: int, digest: str, sha256: str | None,
                    entry: ManifestEntry | None) -> None:
    if sha256 is not None and digest != sha256.lower():
        raise ProvenanceError(f"{path}: sha256 mismatch: expected {sha256.lower()}, found {digest}")
    if entry is not None:
        if entry.size is not None and entry.size != size:
            raise ProvenanceError(f"{path}: size mismatch with manifest: expected {entry.size}, found {size}")
        if entry.sha256.lower() != digest:
            raise ProvenanceError(f"{path}: sha256 mismatch with manifest: expected {entry.sha256.lower()}, "
                                  f"found {digest}")


def verify(gguf: GGUFFile, *, sha256: str | None = None, manifest: str | os.PathLike | None = None,
           compute_hash: bool = False, show_progress: bool | None = None) -> ProvenanceRecord:
    """Check the file against an expected hash and/or a trusted manifest and build its record.

    The file is hashed when a hash is expected, a manifest is given, or ``compute_hash`` is set.
    A mismatch raises :class:`ProvenanceError`; callers load nothing in that case.
    """
    path = Path(gguf.path)
    size = path.stat().st_size
    entry = None
    if manifest is not None:
        entries = read_manifest(manifest)
        entry = entries.get(path.name)
        if entry is None:
            raise ProvenanceError(f"{path}: not listed in trusted manifest {manifest}")
    digest = None
    if sha256 is not None or entry is not None or compute_hash:
        digest = sha256_file(path, show_progress=show_progress)
        _check_expected(path, size, digest, sha256, entry)
    general = {k[len("general."):]: v for k, v in gguf.metadata.items()
               if k.startswith("general.") and k[len("general."):] in _GENERAL_FIELDS}
    record = ProvenanceRecord(
        path=str(path.resolve()), size=size, sha256=digest,
        architecture=gguf.metadata.get("general.architecture"), general=general,
        tensor_types=dict(Counter(t.type_name for t in gguf.tensors.values())),
        manifest_source=entry.source if entry else None,
        checked_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    log.info("provenance: %s", record.model_dump_json())
    return record
