"""Tokenizers from GGUF metadata or tokenizer.json, with a UTF-8-safe streaming detokenizer.

Encoding runs in HF ``tokenizers``, configured so token ids equal llama.cpp's for the same GGUF.
"""
from runtime.tokenizer.errors import TokenizerError
from runtime.tokenizer.info import TokenizerInfo
from runtime.tokenizer.loader import tokenizer_from_gguf
from runtime.tokenizer.stream import StreamDecoder
from runtime.tokenizer.synthetic import synthetic_vocab_metadata
from runtime.tokenizer.tokenizer import Tokenizer

__all__ = ["Tokenizer", "TokenizerInfo", "TokenizerError", "StreamDecoder", "tokenizer_from_gguf",
           "synthetic_vocab_metadata"]
