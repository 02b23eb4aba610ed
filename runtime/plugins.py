"""The plugin manager: loads plugins from the ``plugrt`` entry-point group and keeps the
architecture and quantization-format tables they register."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Iterable

import pluggy

from runtime import hookspecs
from runtime.errors import PluginConflictError, PlugrtError, UnsupportedArchitectureError, UnsupportedQuantTypeError
from runtime.ggml_types import GGMLType

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = hookspecs.PROJECT
#: Comma-separated entry-point names; when set, only these plugins load.
PLUGINS_ENV = "PLUGRT_PLUGINS"


@dataclass
class Registry:
    """What the loaded plugins provide, each entry with the name of the plugin that gave it."""

    architectures: dict[str, tuple[type, str]] = field(default_factory=dict)
    quant_formats: dict[GGMLType, tuple[object, str]] = field(default_factory=dict)
    synthetic_presets: dict[str, tuple[object, str]] = field(default_factory=dict)
    converters: dict[str, tuple[object, str]] = field(default_factory=dict)
    plugin_manager: pluggy.PluginManager | None = None

    def default_model_path(self):
        """The model to load when the user names none (from the ``default_model_path`` hook)."""
        path = self.plugin_manager.hook.default_model_path() if self.plugin_manager else None
        if path is None:
            raise PlugrtError("no model given and no plugin provides a default model; "
                              "pass a GGUF path or install plugrt[demo]")
        return path

    def adapter_class(self, architecture: str) -> type:
        try:
            return self.architectures[architecture][0]
        except KeyError:
            supported = ", ".join(sorted(self.architectures)) or "none"
            raise UnsupportedArchitectureError(
                f"no plugin serves architecture {architecture!r}; supported: {supported}") from None

    def plugin_for_architecture(self, architecture: str) -> str:
        self.adapter_class(architecture)
        return self.architectures[architecture][1]

    def synthetic_preset(self, name: str):
        try:
            return self.synthetic_presets[name][0]
        except KeyError:
            known = ", ".join(sorted(self.synthetic_presets)) or "none"
            raise KeyError(f"unknown synthetic preset {name!r}; known: {known}") from None

    def quant_format(self, ggml_type: GGMLType):
        try:
            return self.quant_formats[GGMLType(ggml_type)][0]
        except KeyError:
            supported = ", ".join(t.name for t in sorted(self.quant_formats)) or "none"
            raise UnsupportedQuantTypeError(
                f"no plugin serves ggml type {GGMLType(ggml_type).name}; supported: {supported}") from None


def _collect(pm: pluggy.PluginManager) -> Registry:
    reg = Registry(plugin_manager=pm)

    def registrar(kind: str, table: dict, key_of, plugin_name: str):
        def register(item):
            for key in key_of(item):
                if key in table:
                    label = key.name if isinstance(key, GGMLType) else repr(key)
                    raise PluginConflictError(
                        f"{kind} {label} is claimed by both plugin {table[key][1]!r} and plugin {plugin_name!r}")
                table[key] = (item, plugin_name)
        return register

    tables = (
        ("register_architectures", "architecture", reg.architectures, lambda cls: cls.architectures),
        ("register_quant_formats", "ggml type", reg.quant_formats, lambda fmt: (GGMLType(fmt.ggml_type),)),
        ("register_synthetic_presets", "synthetic preset", reg.synthetic_presets, lambda p: (p.name,)),
        ("register_converters", "converter for model_type", reg.converters, lambda c: c.model_types),
    )
    for name, plugin in pm.list_name_plugin():
        others = [p for p in pm.get_plugins() if p is not plugin]
        for hook_name, kind, table, keys in tables:  # one plugin at a time, so conflicts can name it
            pm.subset_hook_caller(hook_name, remove_plugins=others)(register=registrar(kind, table, keys, name))
    return reg


def build_registry(plugins: Iterable[tuple[str, ModuleType | object]] | None = None) -> Registry:
    """Build a registry from explicit ``(name, plugin)`` pairs, or from the entry points."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if plugins is None:
        plugins = _entry_point_plugins()
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    reg = _collect(pm)
    log.debug("plugins: %s", ", ".join(n for n, _ in pm.list_name_plugin()))
    return reg


def _entry_point_plugins() -> list[tuple[str, object]]:
    wanted = os.environ.get(PLUGINS_ENV)
    allow = {w.strip() for w in wanted.split(",") if w.strip()} if wanted else None
    found = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if allow is not None and ep.name not in allow:
            continue
        found.append((ep.name, ep.load()))
    return found


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The process-wide registry, built from the entry points on first use."""
    return build_registry()
