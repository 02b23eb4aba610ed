"""Every example under examples/ runs as written (CPU backend, synthetic models)."""
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("script, expect", [("gpt_oss_mxfp4.py", "MXFP4"), ("q4_k_m.py", "Q4_K")])
def test_example_script_runs(script, expect):
    r = subprocess.run([sys.executable, str(EXAMPLES / script), "--device", "cpu"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert expect in r.stdout
