"""The atheris harnesses (tests/fuzz/targets) in the CI setting: each runs as
``scripts/fuzz --engine atheris`` runs it, in its own process, for a few thousand inputs, so
the harnesses can not rot. It must exit 0 (no crash, no timeout) having executed the inputs
(at least ``runs``: libFuzzer runs every seed first).

The long setting is ``scripts/fuzz --engine atheris --runs 1000000`` (docs/reliability.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from fuzz import executed_units  # noqa: E402

RUNS = int(os.environ.get("FUZZ_RUNS", "2000"))
# The slow parsers (~200-1,000 inputs/s: pydantic model per config load, whole NMEA streams).
SLOW = {"nmea": 4, "config_file": 8, "config_env": 8}


@pytest.mark.parametrize("name", TARGETS)
def test_harness_runs_clean(name: str, tmp_path: Path) -> None:
    runs = RUNS // SLOW.get(name, 1)
    proc = subprocess.run(
        [sys.executable, "-m", f"tests.fuzz.targets.{name}", "--work", str(tmp_path),
         f"-runs={runs}", "-timeout=10", "-seed=1"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, errors="replace", timeout=300, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert executed_units(log) >= runs, log[-3000:]  # the seeds all run, even if more
    assert not list((tmp_path / "crashes").iterdir()), log[-3000:]
