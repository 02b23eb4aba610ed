"""``plugrt inspect``: what a GGUF file holds, answered from its header alone (no full read
unless a hash is asked for)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from runtime.detect import detect
from runtime.gguf.reader import open_gguf
from runtime.plugins import Registry, registry
from runtime.provenance import sha256_file


class TypeUsage(BaseModel):
    count: int
    bytes: int


class InspectReport(BaseModel):
    """The stable JSON of ``plugrt inspect --json``."""

    architecture: str
    plugin: str
    config: dict[str, Any]
    tensor_count: int
    types: dict[str, TypeUsage]
    n_params: int
    file_size: int
    sha256: str | None


def inspect_file(path: str | Path, *, compute_hash: bool = False, reg: Registry | None = None) -> InspectReport:
    reg = reg or registry()
    with open_gguf(path) as gguf:
        adapter = detect(gguf, reg)
        config = adapter.config(gguf.metadata)
        usage: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for t in gguf.tensors.values():
            usage[t.type_name][0] += 1
            usage[t.type_name][1] += t.nbytes
        report = InspectReport(
            architecture=gguf.architecture,
            plugin=reg.plugin_for_architecture(gguf.architecture),
            config=config.model_dump(mode="json"),
            tensor_count=len(gguf.tensors),
            types={name: TypeUsage(count=c, bytes=b) for name, (c, b) in sorted(usage.items())},
            n_params=sum(t.n_elements for t in gguf.tensors.values()),
            file_size=gguf.file_size,
            sha256=None)
    if compute_hash:
        report.sha256 = sha256_file(path)
    return report


def format_report(r: InspectReport) -> str:
    """Human-readable form of the report."""
    lines = [f"architecture : {r.architecture} (plugin {r.plugin})",
             f"parameters   : {r.n_params:,}",
             f"file size    : {r.file_size:,} bytes ({r.file_size / 2**30:.2f} GiB)",
             f"tensors      : {r.tensor_count}"]
    for name, u in r.types.items():
        lines.append(f"  {name:<8} {u.count:>5} tensors {u.bytes / 2**20:>12.1f} MiB")
    lines.append("config:")
    lines += [f"  {k}: {v}" for k, v in r.config.items()]
    if r.sha256:
        lines.append(f"sha256       : {r.sha256}")
    return "\n".join(lines)
