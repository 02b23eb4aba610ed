"""Run llama.cpp's llama-bench and ``plugrt bench`` on the same GGUF and GPU, one after the other,
and print both with our/their ratios. Builds nothing: pass a llama-bench binary you built
(CUDA, flash attention on).

    python scripts/compare_llama_cpp.py --llama-bench path/to/llama-bench MODEL.gguf \
        -p 512,2048 -n 128 -r 3 [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys


def llama_bench(binary: str, model: str, prompts: str, n_gen: int, reps: int) -> dict[str, float]:
    cmd = [binary, "-m", model, "-p", prompts, "-n", str(n_gen), "-r", str(reps), "-fa", "1", "-ngl", "99",
           "-o", "json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rates = {}
    for row in json.loads(out):
        test = f"pp{row['n_prompt']}" if row["n_prompt"] else f"tg{row['n_gen']}"
        rates[test] = float(row["avg_ts"])
    return rates


def plugrt_bench(model: str, prompts: str, n_gen: int, reps: int) -> dict:
    cmd = [sys.executable, "-m", "runtime", "bench", model, "-p", prompts, "-n", str(n_gen), "-r", str(reps),
           "--device", "cuda", "--json"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--llama-bench", required=True)
    parser.add_argument("-p", "--n-prompt", default="512,2048")
    parser.add_argument("-n", "--n-gen", type=int, default=128)
    parser.add_argument("-r", "--repetitions", type=int, default=3)
    parser.add_argument("--json", help="also write the comparison here")
    args = parser.parse_args()
    theirs = llama_bench(args.llama_bench, args.model, args.n_prompt, args.n_gen, args.repetitions)
    report = plugrt_bench(args.model, args.n_prompt, args.n_gen, args.repetitions)
    ours = {m["test"]: m["avg_ts"] for m in report["results"]}
    rows = [(test, ours[test], theirs[test], ours[test] / theirs[test]) for test in ours if test in theirs]
    print(f"{report['device_name']}  {args.model}  ({report['file_size'] / 2**30:.2f} GiB)")
    print(f"| {'test':>8} | {'plugrt t/s':>11} | {'llama.cpp t/s':>13} | {'ratio':>6} |")
    print(f"| {'-' * 7}: | {'-' * 10}: | {'-' * 12}: | {'-' * 5}: |")
    for test, a, b, ratio in rows:
        print(f"| {test:>8} | {a:>11.1f} | {b:>13.1f} | {ratio:>5.2f}x |")
    per_token = report["decode_weight_bytes"]
    for test, a, b, _ in rows:
        if test.startswith("tg"):
            print(f"{test}: {per_token / 1e9:.2f} GB of weights per token -> plugrt {a * per_token / 1e9:.0f} GB/s, "
                  f"llama.cpp {b * per_token / 1e9:.0f} GB/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": report["device_name"], "model": args.model, "plugrt": report, "llama_cpp": theirs,
                       "ratios": {t: r for t, _, _, r in rows}}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
