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
            + [("synth preset", n, p) for n, (_, p) in sorted(reg.synthetic_presets.items())])
    if args.json:
        out: dict[str, dict[str, str]] = {"architectures": {}, "quant_types": {}, "synthetic_presets": {}}
        keys = {"architecture": "architectures", "quant type": "quant_types", "synth preset": "synthetic_presets"}
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plugrt", description="Run GGUF language models on NVIDIA GPUs or the CPU.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("plugins", help="list architectures, quantization types and presets with their plugins")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_plugins)

    s = sub.add_parser("inspect", help="show what a GGUF file holds")
    s.add_argument("model")
    s.add_argument("--json", action="store_true", help="print the stable JSON report")
    s.add_argument("--hash", action="store_true", help="also compute the file's sha256 (reads it whole)")
    s.set_defaults(func=cmd_inspect)

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
