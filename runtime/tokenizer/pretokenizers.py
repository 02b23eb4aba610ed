"""Pre-tokenizers named by ``tokenizer.ggml.pre``, as llama.cpp's llama-vocab.cpp defines them.

The GPT-4o (o200k) pattern is llama.cpp's rewrite of the tokenizer.json regex: it
drops ``\\p{M}`` from the letter classes and spells upper/lower case through
lookaheads, so combining marks split words differently from tiktoken. Token ids
must equal llama.cpp's (GT-004), so that rewrite is what runs here.
"""
from __future__ import annotations

from tokenizers import Regex, pre_tokenizers

from runtime.tokenizer.errors import TokenizerError

_CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
_UPPER = r"((?=[\p{L}])([^a-z]))"
_LOWER = r"((?=[\p{L}])([^A-Z]))"
GPT4O_PATTERN = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+{_CONTRACTIONS}"
    rf"|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*{_CONTRACTIONS}"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
# llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT: four splits applied one after another
DEFAULT_PATTERNS = (r"[\p{P}\$\+<=>\^~\|]+", GPT2_PATTERN, r"\p{N}+", r"[0-9][0-9][0-9]")

# names as llama.cpp spells them (a GGUF's "gpt-2", never "gpt2")
PATTERNS: dict[str, tuple[str, ...]] = {
    "gpt-4o": (GPT4O_PATTERN,),
    "llama4": (GPT4O_PATTERN,),
    "gpt-2": (GPT2_PATTERN,),
    "phi-2": (GPT2_PATTERN,),
    "default": DEFAULT_PATTERNS,
}


def byte_level_pre_tokenizer(pre: str | None) -> pre_tokenizers.PreTokenizer:
    """Regex splits for ``pre`` followed by the byte-to-unicode mapping. Unknown names are an error."""
    name = pre or "default"
    if name not in PATTERNS:
        raise TokenizerError(f"unsupported tokenizer.ggml.pre {pre!r}; supported: {sorted(PATTERNS)}")
    splits = [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in PATTERNS[name]]
    return pre_tokenizers.Sequence([*splits, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
