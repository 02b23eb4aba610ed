"""``tokenizer.ggml.model == "gpt2"``: byte-level BPE from the GGUF token list and merges."""
from __future__ import annotations

from typing import Sequence

from tokenizers import Tokenizer as HFTokenizer, decoders, models

from runtime.tokenizer.errors import TokenizerError
from runtime.tokenizer.pretokenizers import byte_level_pre_tokenizer


def _split_merge(merge: str, index: int) -> tuple[str, str]:
    # llama.cpp splits at the first space after position 0 (a merge may start with a space-like char)
    pos = merge.find(" ", 1)
    if pos < 0:
        raise TokenizerError(f"tokenizer.ggml.merges[{index}] = {merge!r} has no space separator")
    return merge[:pos], merge[pos + 1:]


def build_byte_level_bpe(tokens: Sequence[str], merges: Sequence[str], pre: str | None) -> HFTokenizer:
    vocab: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        vocab.setdefault(tok, i)  # llama.cpp keeps the first id of a duplicated text
    pairs = [_split_merge(m, i) for i, m in enumerate(merges)]
    hf = HFTokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False))
    hf.pre_tokenizer = byte_level_pre_tokenizer(pre)
    hf.decoder = decoders.ByteLevel()
    return hf
