"""The plugin manager: registration through hooks, conflicts, entry points, narrowing."""
import pytest

from runtime.architecture import ArchitectureAdapter
from runtime.errors import PluginConflictError, UnsupportedArchitectureError, UnsupportedQuantTypeError
from runtime.ggml_types import GGMLType
from runtime.hookspecs import hookimpl
from runtime.plugins import build_registry, registry


class _Adapter(ArchitectureAdapter):
    architectures = ("toy",)

    def config(self, metadata):
        raise NotImplementedError

    def weight_table(self, config):
        return []

    def build(self, gguf, config, backend):
        raise NotImplementedError


class _ToyPlugin:
    @hookimpl
    def register_architectures(self, register):
        register(_Adapter)


class _ToyFormat:
    ggml_type = GGMLType.Q8_0


class _ToyQuantPlugin:
    @hookimpl
    def register_quant_formats(self, register):
        register(_ToyFormat())


def test_registered_architecture_is_found_with_its_plugin():
    reg = build_registry([("toy_arch", _ToyPlugin())])
    assert reg.adapter_class("toy") is _Adapter
    assert reg.plugin_for_architecture("toy") == "toy_arch"


def test_unknown_architecture_lists_supported():
    reg = build_registry([("toy_arch", _ToyPlugin())])
    with pytest.raises(UnsupportedArchitectureError, match="'llama'.*supported: toy"):
        reg.adapter_class("llama")


def test_two_plugins_claiming_one_architecture_is_an_error_naming_both():
    with pytest.raises(PluginConflictError, match="architecture 'toy'.*'first'.*'second'"):
        build_registry([("first", _ToyPlugin()), ("second", _ToyPlugin())])


def test_two_plugins_claiming_one_ggml_type_is_an_error_naming_both():
    with pytest.raises(PluginConflictError, match="ggml type Q8_0.*'qa'.*'qb'"):
        build_registry([("qa", _ToyQuantPlugin()), ("qb", _ToyQuantPlugin())])


def test_unknown_quant_type_is_a_clear_error():
    reg = build_registry([("qa", _ToyQuantPlugin())])
    with pytest.raises(UnsupportedQuantTypeError, match="Q4_K.*supported: Q8_0"):
        reg.quant_format(GGMLType.Q4_K)


def test_builtin_plugins_load_through_entry_points():
    reg = registry()
    assert reg.plugin_for_architecture("gpt-oss") == "gpt"
    assert reg.plugin_for_architecture("gpt2") == "gpt"
    assert reg.quant_formats[GGMLType.MXFP4][1] == "quant_mxfp4"
    for t in (GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.Q5_0, GGMLType.Q8_0):
        assert reg.quant_formats[t][1] == "quant_q4km"
    for t in (GGMLType.F32, GGMLType.F16, GGMLType.BF16):
        assert reg.quant_formats[t][1] == "quant_float"


def test_environment_variable_narrows_loaded_plugins(monkeypatch):
    monkeypatch.setenv("PLUGRT_PLUGINS", "quant_mxfp4")
    reg = build_registry()
    assert set(reg.quant_formats) == {GGMLType.MXFP4}
    assert reg.architectures == {}
