"""Control and user-defined tokens: matched whole in the text before the model sees it."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from tokenizers import AddedToken, Tokenizer as HFTokenizer

from runtime.tokenizer.info import TOKEN_CONTROL, TOKEN_UNKNOWN, TOKEN_USER_DEFINED


def special_token_ids(token_types: np.ndarray) -> np.ndarray:
    """Ids llama.cpp partitions out of raw text: control, user-defined and unknown tokens."""
    return np.nonzero(np.isin(token_types, (TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNKNOWN)))[0]


def register_special_tokens(hf: HFTokenizer, tokens: Sequence[str], token_types: np.ndarray) -> dict[str, int]:
    """Add control/unknown tokens as HF special tokens (parsed only when special parsing is on) and
    user-defined tokens as plain added tokens (always parsed, as in llama.cpp). Returns text -> id."""
    found: dict[str, int] = {}
    control, user = [], []
    for i in special_token_ids(token_types):
        text = tokens[i]
        if not text or text in found:
            continue
        found[text] = int(i)
        is_user = token_types[i] == TOKEN_USER_DEFINED
        (user if is_user else control).append(AddedToken(text, special=not is_user, normalized=False))
    if control:
        hf.add_special_tokens(control)
    if user:
        hf.add_tokens(user)
    return found


# llama.cpp always parses and renders these harmony tokens, whatever their GGUF type says
_HARMONY_STRUCTURAL = frozenset({"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"})
_HARMONY_ENDS = frozenset({"<|return|>", "<|call|>", "<|end|>"})


def apply_llama_cpp_type_overrides(tokens: Sequence[str], token_types: np.ndarray) -> np.ndarray:
    """Token types as llama.cpp's vocabulary loader ends up with them.

    It turns GPT-OSS's structural harmony tokens into user-defined ones (so they are
    matched even without special parsing and survive skip_special), and ``<|end|>``
    too when ``<|return|>`` and ``<|call|>`` end generation instead."""
    present = {t: i for i, t in enumerate(tokens) if t in _HARMONY_STRUCTURAL or t in _HARMONY_ENDS}
    if not present:
        return token_types
    overridden = token_types.copy()
    for text, i in present.items():
        if text in _HARMONY_STRUCTURAL or (text == "<|end|>" and _HARMONY_ENDS <= present.keys()):
            overridden[i] = TOKEN_USER_DEFINED
    return overridden
