"""GPT-OSS with MXFP4 experts: load, generate, stream and chat.

    python examples/gpt_oss_mxfp4.py [MODEL.gguf] [--device auto|cuda|cpu]

Without a model path it writes the synthetic ``gpt-oss-tiny`` preset (random weights, MXFP4
experts, Q8_0 attention) so the script runs anywhere; pass a real gpt-oss GGUF for real text.
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
        path = Path(tempfile.mkdtemp()) / "gpt-oss-tiny.gguf"
        write_synthetic(registry().synthetic_preset("gpt-oss-tiny"), path, seed=0)

    model = runtime.load(path, device=args.device)
    print(f"{model.info.architecture} on {model.info.backend}: {model.info.quantization}")
    assert "MXFP4" in model.info.quantization, "expected MXFP4 expert weights"

    completion = model.generate("The three laws of robotics are", max_tokens=24, temperature=0)
    print(f"greedy ({completion.finish_reason}, {completion.timings.tokens_per_s:.1f} tok/s): {completion.text!r}")

    print("streamed: ", end="")
    for chunk in model.stream("Once upon a time", max_tokens=16, temperature=0.8, top_p=0.95, seed=1):
        print(chunk.text, end="", flush=True)
    print()

    reply = model.chat([{"role": "user", "content": "What is 2 + 2?"}], reasoning_effort="low",
                       max_tokens=32, temperature=0)
    print(f"chat: final={reply.text!r} analysis={reply.analysis!r}")


if __name__ == "__main__":
    main()
