"""Provenance: hashing, expected hashes, trusted manifests, the record."""
import hashlib
import json

import numpy as np
import pytest

from runtime.errors import ProvenanceError
from runtime.gguf import GGUFWriter, open_gguf
from runtime.provenance import sha256_file, verify


@pytest.fixture
def model(tmp_path):
    w = GGUFWriter()
    w.add("general.architecture", "gpt2")
    w.add("general.name", "tiny test")
    w.add("general.author", "plugrt tests")
    w.add_array("a.weight", np.ones((4, 32), np.float32))
    w.add_array("b.weight", np.ones((2, 32), np.float16))
    path = tmp_path / "m.gguf"
    w.write(path)
    return path


def test_streaming_hash_equals_hashlib(model):
    assert sha256_file(model) == hashlib.sha256(model.read_bytes()).hexdigest()


def test_record_without_hash_reads_nothing_more(model):
    with open_gguf(model) as g:
        rec = verify(g)
    assert rec.sha256 is None
    assert rec.architecture == "gpt2"
    assert rec.general == {"name": "tiny test", "author": "plugrt tests"}
    assert rec.tensor_types == {"F32": 1, "F16": 1}
    assert rec.size == model.stat().st_size


def test_matching_hash_is_accepted_and_recorded(model):
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    with open_gguf(model) as g:
        assert verify(g, sha256=digest.upper()).sha256 == digest


def test_wrong_hash_is_refused(model):
    with open_gguf(model) as g, pytest.raises(ProvenanceError, match="sha256 mismatch: expected 0+, found"):
        verify(g, sha256="0" * 64)


def test_manifest_match_records_source(model, tmp_path):
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    manifest = tmp_path / "trusted.json"
    manifest.write_text(json.dumps({model.name: {"sha256": digest, "size": model.stat().st_size,
                                                 "source": "unit test"}}))
    with open_gguf(model) as g:
        assert verify(g, manifest=manifest).manifest_source == "unit test"


@pytest.mark.parametrize("entry, message", [
    ({"sha256": "ab" * 32}, "sha256 mismatch with manifest"),
    ({"sha256": "ab" * 32, "size": 1}, "size mismatch with manifest"),
])
def test_manifest_mismatch_is_refused(model, tmp_path, entry, message):
    manifest = tmp_path / "trusted.json"
    manifest.write_text(json.dumps({model.name: entry}))
    with open_gguf(model) as g, pytest.raises(ProvenanceError, match=message):
        verify(g, manifest=manifest)


def test_file_missing_from_manifest_is_refused(model, tmp_path):
    manifest = tmp_path / "trusted.json"
    manifest.write_text(json.dumps({"other.gguf": {"sha256": "00" * 32}}))
    with open_gguf(model) as g, pytest.raises(ProvenanceError, match="not listed"):
        verify(g, manifest=manifest)


def test_unreadable_manifest_is_a_provenance_error(model, tmp_path):
    manifest = tmp_path / "trusted.json"
    manifest.write_text("{not json")
    with open_gguf(model) as g, pytest.raises(ProvenanceError, match="unreadable"):
        verify(g, manifest=manifest)
