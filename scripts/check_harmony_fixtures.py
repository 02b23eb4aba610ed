"""Check the harmony fixtures' token ids against an independent o200k_harmony tokenizer.

    pip install quicktok-v1 && python scripts/check_harmony_fixtures.py

tests/fixtures/harmony/ holds rendered GPT-OSS prompts with the ids OpenAI's published format gives
them; the tests compare plugrt's renderer and tokenizer with those ids and need nothing else.
quicktok bundles the o200k_harmony vocabulary (tiktoken downloads it at run time), so this check
runs offline. Exit status 1 when any id differs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "harmony"


def main() -> int:
    import quicktok

    encoding = quicktok.get_encoding("o200k_harmony")
    failures = 0
    for path in sorted(FIXTURES.glob("*.json")):
        case = json.loads(path.read_text())
        if "pieces" in case:
            wrong = {piece: i for piece, i in case["pieces"].items() if encoding.encode(piece) != [i]}
            print(f"{path.name}: {len(case['pieces'])} pieces, {len(wrong)} differ {wrong or ''}")
            failures += bool(wrong)
        elif "token_ids" in case:
            same = encoding.encode(case["text"], allowed_special="all") == case["token_ids"]
            print(f"{path.name}: {len(case['token_ids'])} ids, {'equal' if same else 'DIFFERENT'}")
            failures += not same
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
