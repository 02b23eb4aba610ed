"""runtime.load() and the Model API on a synthetic GPT-OSS model (CPU backend)."""
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

import runtime
from runtime.plugins import registry
from runtime.synth import write_synthetic


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "gpt-oss-tiny.gguf"
    return write_synthetic(registry().synthetic_preset("gpt-oss-tiny"), path, seed=3)


@pytest.fixture(scope="module")
def model(tiny_path):
    return runtime.load(tiny_path, device="cpu")


def test_info_describes_the_model(model, tiny_path):
    info = model.info
    assert info.architecture == "gpt-oss" and info.plugin == "gpt" and info.backend == "cpu"
    assert info.quantization["MXFP4"] == 6
    assert info.context_length == 4096
    assert info.provenance.path == str(tiny_path.resolve())
    assert model.tokenizer.info.vocab_size == 1024


def test_logits_cover_every_position(model):
    ids = model.tokenizer.encode("hello there, general", add_special=False)
    logits = model.logits(ids)
    assert logits.shape == (len(ids), 1024) and logits.dtype == np.float32
    assert np.isfinite(logits).all()


def test_temperature_zero_is_argmax_decoding(model):
    prompt = model.tokenizer.encode("The quick brown fox", add_special=False)
    completion = model.generate(prompt, max_tokens=6, temperature=0)
    ids = list(prompt)
    for _ in range(6):
        ids.append(int(np.argmax(model.logits(ids)[-1])))
    assert completion.token_ids == ids[len(prompt):]


def test_same_seed_same_text(model):
    a = model.generate("Once", max_tokens=12, temperature=1.0, seed=11)
    b = model.generate("Once", max_tokens=12, temperature=1.0, seed=11)
    c = model.generate("Once", max_tokens=12, temperature=1.0, seed=12)
    assert a.token_ids == b.token_ids and a.text == b.text
    assert a.token_ids != c.token_ids


def test_stream_chunks_join_to_the_completion(model):
    stream = model.stream("Once", max_tokens=10, temperature=0.7, seed=5)
    text = "".join(chunk.text for chunk in stream)
    assert text == stream.completion.text and stream.completion.finish_reason == "length"


def test_wrong_sha256_loads_nothing(tiny_path):
    with pytest.raises(runtime.ProvenanceError, match="sha256 mismatch"):
        runtime.load(tiny_path, device="cpu", sha256="1" * 64)


def test_right_sha256_is_recorded(tiny_path):
    digest = hashlib.sha256(tiny_path.read_bytes()).hexdigest()
    assert runtime.load(tiny_path, device="cpu", sha256=digest).info.provenance.sha256 == digest


def test_unknown_device_is_a_clear_error(tiny_path):
    with pytest.raises(runtime.BackendUnavailableError, match="unknown device 'tpu'"):
        runtime.load(tiny_path, device="tpu")


def test_cli_generate_json_has_the_documented_keys(tiny_path):
    r = subprocess.run([sys.executable, "-m", "runtime", "generate", str(tiny_path), "-p", "Hello", "-n", "5",
                        "--temperature", "0", "--device", "cpu", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {"text", "tokens", "prompt_tokens", "finish_reason", "timings"} <= set(data)
    assert set(data["timings"]) == {"load_s", "ttft_ms", "prompt_tokens_per_s", "tokens_per_s"}
    assert data["tokens"] == 5 and data["finish_reason"] == "length"


def test_cli_generate_streams_the_prompt_and_continuation(tiny_path, model):
    r = subprocess.run([sys.executable, "-m", "runtime", "generate", str(tiny_path), "-p", "Hello", "-n", "5",
                        "--temperature", "0", "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    expected = model.generate("Hello", max_tokens=5, temperature=0).text
    assert r.stdout == "Hello" + expected + "\n"


def test_cli_chat_keeps_history_and_exits_on_eof(tiny_path):
    r = subprocess.run([sys.executable, "-m", "runtime", "chat", str(tiny_path), "--device", "cpu", "-n", "4",
                        "--temperature", "0"], input="hi\nand again\n", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("> ") >= 2
