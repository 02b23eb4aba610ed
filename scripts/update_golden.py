"""Rewrite the golden files under tests/golden/ from the current code (GT-043).

Run it only when a numeric change is intended (a new kernel, a corrected reference, a changed
synthetic generator), then review the diff and commit it with the change that caused it:

    python scripts/update_golden.py            # everything
    python scripts/update_golden.py --only dequant gpt-oss-tiny gemma3-270m

Each file records the plugrt and NumPy versions that wrote it.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from golden import compute  # noqa: E402

GEMMA = "gemma3-270m"


def _write(name: str, record: dict) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        plugrt_version = version("plugrt")
    except PackageNotFoundError:
        plugrt_version = "source"
    record = {"written_by": {"plugrt": plugrt_version, "numpy": np.__version__}, **record}
    path = compute.GOLDEN_DIR / f"{name}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    targets = ["dequant", *compute.available_presets(), GEMMA]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=targets, help="regenerate only these")
    wanted = parser.parse_args(argv).only or targets
    if "dequant" in wanted:
        _write("dequant", {"types": compute.dequant_goldens()})
    with tempfile.TemporaryDirectory() as tmp:
        for name in compute.available_presets():
            if name in wanted:
                _write(f"logits_{name}", compute.preset_logits(name, Path(tmp)))
    if GEMMA in wanted:
        path = compute.gemma_path()
        if path is None:
            print("Gemma 3 270M is not available (pip install 'plugrt[demo]'); its golden is unchanged")
        else:
            _write(f"logits_{GEMMA}", compute.gemma_logits(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
