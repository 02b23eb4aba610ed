"""The ``plugrt`` command (also ``python -m runtime``)."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from runtime.errors import PlugrtError

log = logging.getLogger("plugrt")


def cmd_plugins(args) -> int:
    from runtime.plugins import registry

    reg = registry()
    rows = ([("architecture", a, p) for a, (_, p) in sorted(reg.architectures.items())]
            + [("quant type", t.name, p) for t, (_, p) in sorted(reg.quant_formats.items())]
            + [("synth preset", n, p) for n, (_, p) in sorted(reg.synthetic_presets.items())]
            + [("converter", t, p) for t, (_, p) in sorted(reg.converters.items())])
    if args.json:
        keys = {"architecture": "architectures", "quant type": "quant_types", "synth preset": "synthetic_presets",
                "converter": "converters"}
        out: dict[str, dict[str, str]] = {key: {} for key in keys.values()}
        for kind, name, plugin in rows:
            out[keys[kind]][name] = plugin
        print(json.dumps(out, indent=2))
    else:
        for kind, name, plugin in rows:
            print(f"{kind:<13} {name:<18} {plugin}")
    return 0


def cmd_inspect(args) -> int:
    from runtime.inspection import format_report, inspect_file

    report = inspect_file(args.model, compute_hash=args.hash)
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0


def cmd_synth(args) -> int:
    from runtime.plugins import registry
    from runtime.synth import write_synthetic

    reg = registry()
    if args.preset == "list":
        for name, (preset, plugin) in sorted(reg.synthetic_presets.items()):
            print(f"{name:<18} {preset.description} [{plugin}]")
        return 0
    try:
        preset = reg.synthetic_preset(args.preset)
    except KeyError as e:
        raise PlugrtError(e.args[0]) from None
    out = write_synthetic(preset, args.out, seed=args.seed, reg=reg)
    print(out)
    return 0


def _sampling_args(args) -> dict:
    sampling = {"max_tokens": args.n_predict, "temperature": args.temperature, "top_p": args.top_p,
                "top_k": args.top_k, "min_p": args.min_p, "seed": args.seed,
                "repetition_penalty": args.repeat_penalty, "stop": args.stop or []}
    return {k: v for k, v in sampling.items() if v is not None}


def _load(args):
    import runtime

    return runtime.load(args.model, device=args.device, sha256=args.sha256, manifest=args.manifest,
                        context_length=args.ctx_size, tokenizer=args.tokenizer, vram_budget=args.vram_budget)


def cmd_generate(args) -> int:
    model = _load(args)
    stream = model.stream(args.prompt, **_sampling_args(args))
    if args.json:
        c = stream.result()
        print(json.dumps({"text": c.text, "tokens": len(c.token_ids), "token_ids": c.token_ids,
                          "prompt_tokens": c.prompt_tokens, "finish_reason": c.finish_reason,
                          "timings": c.timings.model_dump()}, ensure_ascii=False))
        return 0
    if not args.no_echo:
        sys.stdout.write(args.prompt)
    for chunk in stream:
        sys.stdout.write(chunk.text)
        sys.stdout.flush()
    sys.stdout.write("\n")
    c = stream.completion
    log.info("%d prompt tokens, %d generated (%s); ttft %.1f ms, %.1f tokens/s", c.prompt_tokens,
             len(c.token_ids), c.finish_reason, c.timings.ttft_ms, c.timings.tokens_per_s)
    return 0


def cmd_chat(args) -> int:
    from runtime.chat.display import harmony_display

    model = _load(args)
    messages: list[dict] = [{"role": "system", "content": args.system}] if args.system else []
    print(f"plugrt chat: {model.info.architecture} on {model.info.backend}. Ctrl-C stops a reply, "
          "Ctrl-D (or /exit) leaves.", file=sys.stderr)
    while True:
        try:
            user = input("> ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return 0
        if user.strip() in ("/exit", "/quit"):
            return 0
        if not user.strip():
            continue
        messages.append({"role": "user", "content": user})
        stream = model.chat_stream(messages, reasoning_effort=args.reasoning_effort, **_sampling_args(args))
        shown = harmony_display(stream) if model.uses_harmony else (c.text for c in stream)
        try:
            for text in shown:
                sys.stdout.write(text)
                sys.stdout.flush()
        except KeyboardInterrupt:
            print("\n[reply stopped]", file=sys.stderr)
            messages.pop()
            continue
        print()
        messages.append({"role": "assistant", "content": model.reply_from(stream.completion).text})


def cmd_convert(args) -> int:
    from runtime.convert import convert

    print(convert(args.hf_dir, args.out, dtype=args.dtype, expert_type=args.expert_type))
    return 0


def _int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def cmd_bench(args) -> int:
    from runtime.bench import format_report, run_bench

    report = run_bench(args.model, prompts=args.n_prompt, n_gen=args.n_gen, depths=args.depth,
                       repetitions=args.repetitions, device=args.device)
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0


def cmd_profile(args) -> int:
    import runtime
    from runtime.op_profile import format_profile, profile_ops

    model = runtime.load(args.model, device=args.device, context_length=args.ctx_size)
    phases = profile_ops(model, prompt_tokens=args.n_prompt, decode_steps=args.n_gen)
    print(json.dumps([p.model_dump() for p in phases], indent=2) if args.json else format_profile(phases))
    return 0


def cmd_validate(args) -> int:
    from runtime.validate import format_report, validate

    report = validate(args.model, reference=args.reference, prompts=args.prompts, device=args.device,
                      n_generate=args.generate, context_length=args.ctx_size)
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0


def cmd_plan(args) -> int:
    from runtime.api import resolve_device
    from runtime.detect import detect
    from runtime.errors import OutOfDeviceMemory
    from runtime.gguf.reader import open_gguf
    from runtime.memory import plan_load

    with open_gguf(args.model) as gguf:
        adapter = detect(gguf)
        try:
            plan = plan_load(gguf, adapter, adapter.config(gguf.metadata), device=resolve_device(args.device),
                             context_length=args.context, vram_budget=args.vram_budget)
        except OutOfDeviceMemory as e:
            print(json.dumps({"fits": False, "error": str(e)}) if args.json else str(e))
            return 1
    print(json.dumps(plan.to_dict(), indent=2) if args.json else plan.table())
    return 0


def _context_arg(text: str) -> int | str:
    return text if text == "auto" else int(text)


def _model_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("model", nargs="?", help="GGUF file (default: the default model of plugrt[demo])")
    s.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    s.add_argument("--sha256", help="refuse the file unless its sha256 is this")
    s.add_argument("--manifest", help="trusted manifest JSON (file name -> sha256, size, source)")
    s.add_argument("-c", "--ctx-size", type=_context_arg,
                   help="cap the context length (KV cache size); 'auto': the largest that fits the memory budget")
    s.add_argument("--vram-budget", help="device memory the model may use, e.g. 24GiB (default: free memory)")
    s.add_argument("--tokenizer", help="tokenizer.json to use instead of the GGUF vocabulary")
    s.add_argument("-n", "--n-predict", type=int, default=128, help="maximum tokens to generate")
    s.add_argument("--temperature", "--temp", type=float, help="0 = greedy")
    s.add_argument("--top-p", type=float)
    s.add_argument("--top-k", type=int)
    s.add_argument("--min-p", type=float)
    s.add_argument("--repeat-penalty", type=float)
    s.add_argument("--seed", type=int)
    s.add_argument("--stop", action="append", help="stop string (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plugrt", description="Run GGUF language models on NVIDIA GPUs or the CPU.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("generate", help="generate text from a prompt, streaming it")
    _model_args(s)
    s.add_argument("-p", "--prompt", required=True)
    s.add_argument("--json", action="store_true", help="print one JSON object (text, tokens, timings...)")
    s.add_argument("--no-echo", action="store_true", help="do not print the prompt before the output")
    s.set_defaults(func=cmd_generate)

    s = sub.add_parser("chat", help="interactive chat (history kept; Ctrl-C stops a reply)")
    _model_args(s)
    s.add_argument("--system", help="system message")
    s.add_argument("--reasoning-effort", choices=["low", "medium", "high"], help="GPT-OSS reasoning effort")
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("bench", help="prefill/decode throughput in llama-bench's terms")
    s.add_argument("model")
    s.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    s.add_argument("-p", "--n-prompt", type=_int_list, default=[512], help="prompt lengths, e.g. 512,2048")
    s.add_argument("-n", "--n-gen", type=int, default=128, help="tokens to decode (0: skip decode)")
    s.add_argument("-d", "--depth", type=_int_list, default=[0], help="context depths before decoding, e.g. 0,4096")
    s.add_argument("-r", "--repetitions", type=int, default=3)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("profile", help="time each op of a prefill call and of decode steps (CUDA events on a GPU)")
    s.add_argument("model")
    s.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    s.add_argument("-p", "--n-prompt", type=int, default=512, help="prompt tokens of the prefill call")
    s.add_argument("-n", "--n-gen", type=int, default=8, help="decode steps timed after it")
    s.add_argument("-c", "--ctx-size", type=int, default=4096, help="context length (KV cache size)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_profile)

    s = sub.add_parser("convert", help="convert a Hugging Face checkpoint (safetensors + config.json) to GGUF")
    s.add_argument("hf_dir")
    s.add_argument("out")
    s.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16", "q8_0"], help="dense matrices")
    s.add_argument("--expert-type", default="mxfp4", choices=["mxfp4", "f32", "f16", "bf16", "q8_0"],
                   help="MoE expert weights")
    s.set_defaults(func=cmd_convert)

    s = sub.add_parser("plugins", help="list architectures, quantization types and presets with their plugins")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_plugins)

    s = sub.add_parser("inspect", help="show what a GGUF file holds")
    s.add_argument("model")
    s.add_argument("--json", action="store_true", help="print the stable JSON report")
    s.add_argument("--hash", action="store_true", help="also compute the file's sha256 (reads it whole)")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("validate", help="compare a model's logits with its dequantized-F32 reference (CPU)")
    s.add_argument("model")
    s.add_argument("--reference", default="f32",
                   help='"f32": the same file dequantized to float32 on the CPU (default); or another GGUF '
                        "of the same model, e.g. an F32 conversion of the same checkpoint")
    s.add_argument("--prompts", help="prompt set JSON (see docs/VALIDATION.md); default: a few built-in prompts")
    s.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"], help="device of the tested model")
    s.add_argument("--generate", type=int, default=0, metavar="N",
                   help="also compare N greedy tokens per prompt and flag diverging prompts")
    s.add_argument("-c", "--ctx-size", type=int, help="cap the context length (KV cache size)")
    s.add_argument("--json", action="store_true", help="print the full report as JSON")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("plan", help="device memory a model needs (weights, KV cache, workspaces) vs a budget")
    s.add_argument("model")
    s.add_argument("-c", "--context", type=_context_arg, help="context length, or 'auto' (default: the model's)")
    s.add_argument("--vram-budget", help="e.g. 24GiB (default on a GPU: its free memory minus a margin)")
    s.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                   help="plan for this device (cuda adds the CUDA runtime's share)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("synth", help="write a synthetic (random-weight) model; 'plugrt synth list' lists presets")
    s.add_argument("preset")
    s.add_argument("--out", "-o", help="output GGUF path")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_synth)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "synth" and args.preset != "list" and not args.out:
        parser.error("synth: --out is required")
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except PlugrtError as e:
        print(f"plugrt: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
