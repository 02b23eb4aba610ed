"""Every hook a plugrt plugin can implement. Plugins register through the ``plugrt``
entry-point group (built-in plugins too) and mark implementations with :data:`hookimpl`."""
from __future__ import annotations

import pluggy

PROJECT = "plugrt"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_architectures(register):
    """Called once when the plugin manager is built. Call ``register(adapter_class)`` for each
    :class:`runtime.architecture.ArchitectureAdapter` subclass the plugin provides; the class's
    ``architectures`` names the ``general.architecture`` strings it serves. Returns nothing."""


@hookspec
def register_quant_formats(register):
    """Called once when the plugin manager is built. Call ``register(fmt)`` for each
    :class:`runtime.quant.QuantFormat` instance the plugin provides; ``fmt.ggml_type`` is the
    ggml tensor type it serves. Returns nothing."""


@hookspec
def register_synthetic_presets(register):
    """Called once when the plugin manager is built. Call ``register(preset)`` for each
    :class:`runtime.synth.SynthPreset` (a named random-weight model of one of the plugin's
    architectures, written by ``plugrt synth``). Returns nothing."""


@hookspec(firstresult=True)
def default_model_path():
    """Called by ``runtime.load()`` and ``plugrt generate`` when no model is given. Return the path
    of a GGUF file to use (materialising it first if needed), or None to pass. The first plugin
    that returns a path wins."""


@hookspec
def register_converters(register):
    """Called once when the plugin manager is built. Call ``register(converter)`` for each
    :class:`runtime.convert.Converter` (Hugging Face ``model_type`` strings -> a function writing a
    GGUF) the plugin provides; ``plugrt convert`` dispatches on the checkpoint's config.json."""
