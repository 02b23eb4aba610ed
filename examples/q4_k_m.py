"""A Q4_K_M-family model: the same API, other weight formats, chosen per tensor by its ggml type.

    python examples/q4_k_m.py [MODEL.gguf] [--device auto|cuda|cpu]

Without a model path it uses the synthetic ``gpt-oss-tiny-q4km`` preset (Q4_K and Q6_K where rows
allow, Q5_0/Q8_0 fall-backs elsewhere, MXFP4 nowhere).
"""
import argparse
import tempfile
from pathlib import Path

import runtime
from runtime.plugins import registry
from runtime.synth import write_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    path = args.model
    if path is None:
        path = Path(tempfile.mkdtemp()) / "gpt-oss-tiny-q4km.gguf"
        write_synthetic(registry().synthetic_preset("gpt-oss-tiny-q4km"), path, seed=0)

    model = runtime.load(path, device=args.device)
    types = model.info.quantization
    print(f"{model.info.architecture} on {model.info.backend}: {types}")
    assert {"Q4_K"} & set(types), "expected Q4_K weights"

    completion = model.generate("def fibonacci(n):", max_tokens=24, temperature=0)
    print(f"{completion.prompt_tokens} prompt tokens -> {len(completion.token_ids)} tokens "
          f"({completion.finish_reason}): {completion.text!r}")


if __name__ == "__main__":
    main()
