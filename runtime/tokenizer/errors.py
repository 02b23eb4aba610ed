"""Tokenizer errors."""
from __future__ import annotations

from runtime.errors import ConfigError


class TokenizerError(ConfigError):
    """The tokenizer metadata or tokenizer.json is missing, inconsistent, or names something unsupported."""
