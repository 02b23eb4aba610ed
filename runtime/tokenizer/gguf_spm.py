"""``tokenizer.ggml.model == "llama"``: SentencePiece-style vocabulary as an HF BPE.

llama.cpp's SPM tokenizer merges any adjacent pair whose concatenation is a
vocabulary token, highest token score first. Listing, for every token, each
split into two vocabulary tokens, ranked by the merged token's score, gives HF's
BPE the same merge order. Characters outside the vocabulary fall back to
``<0xNN>`` byte tokens; spaces become U+2581.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer as HFTokenizer, decoders, models, normalizers

from runtime.tokenizer.byte_pieces import SPM_SPACE
from runtime.tokenizer.errors import TokenizerError
from runtime.tokenizer.info import TOKEN_BYTE

log = logging.getLogger(__name__)


def merges_from_scores(vocab: dict[str, int], scores: np.ndarray, token_types: np.ndarray) -> list[tuple[str, str]]:
    """All (left, right) vocabulary pairs that concatenate to a vocabulary token, best merged score first.

    Pairs building the same token keep llama.cpp's leftmost-first preference by putting the shorter
    left piece first."""
    merged_ids, cuts, lefts, rights = [], [], [], []
    types = token_types.tolist()
    for tok, i in vocab.items():
        if len(tok) < 2 or types[i] == TOKEN_BYTE:
            continue
        for cut in range(1, len(tok)):
            left = tok[:cut]
            if left in vocab:
                right = tok[cut:]
                if right in vocab:
                    merged_ids.append(i)
                    cuts.append(cut)
                    lefts.append(left)
                    rights.append(right)
    merged = np.asarray(merged_ids, dtype=np.int64)
    order = np.lexsort((np.asarray(cuts), merged, -scores[merged].astype(np.float64)))
    return [(lefts[k], rights[k]) for k in order.tolist()]


def build_sentencepiece_bpe(tokens: Sequence[str], scores: np.ndarray, token_types: np.ndarray,
                            *, add_space_prefix: bool, unk_token: str | None) -> HFTokenizer:
    if not (token_types == TOKEN_BYTE).any():
        raise TokenizerError("llama tokenizer without <0xNN> byte tokens (byte fallback) is not supported")
    vocab = {tok: i for i, tok in reversed(list(enumerate(tokens)))}  # first id of a duplicated text wins
    merges = merges_from_scores(vocab, scores, token_types)
    log.debug("derived %d merges from %d scored tokens", len(merges), len(tokens))
    hf = HFTokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk_token,
                                fuse_unk=True, byte_fallback=True))
    steps = [normalizers.Replace(" ", SPM_SPACE)]
    if add_space_prefix:
        steps.insert(0, normalizers.Prepend(SPM_SPACE))
    hf.normalizer = normalizers.Sequence(steps)
    hf.decoder = decoders.Sequence([decoders.Replace(SPM_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()])
    return hf
