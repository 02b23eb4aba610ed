"""The example plugin package installs and registers a new architecture through entry points alone."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "examples" / "plugin_package"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PACKAGE)], check=True, timeout=300)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


def _plugrt(env, *args):
    return subprocess.run([sys.executable, "-m", "runtime", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_installed_plugin_is_listed(plugin_env):
    r = _plugrt(plugin_env, "plugins")
    assert r.returncode == 0, r.stderr
    assert any(line.split()[:3] == ["architecture", "toy-bigram", "toy_bigram"] for line in r.stdout.splitlines())


def test_installed_plugin_synthesises_and_generates(plugin_env, tmp_path):
    model = tmp_path / "toy.gguf"
    assert _plugrt(plugin_env, "synth", "toy-bigram-tiny", "-o", str(model)).returncode == 0
    r = _plugrt(plugin_env, "generate", str(model), "-p", "hello", "-n", "6", "--temperature", "0",
                "--device", "cpu", "--json")
    assert r.returncode == 0, r.stderr
    assert '"tokens": 6' in r.stdout


def test_without_the_plugin_the_architecture_is_unsupported(plugin_env, tmp_path):
    model = tmp_path / "toy.gguf"
    _plugrt(plugin_env, "synth", "toy-bigram-tiny", "-o", str(model))
    r = _plugrt(dict(os.environ), "inspect", str(model))
    assert r.returncode == 2 and "no plugin serves architecture 'toy-bigram'" in r.stderr
