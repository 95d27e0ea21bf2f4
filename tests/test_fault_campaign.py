"""The fault campaign's CI-short setting (scripts/faults, docs/reliability.md "Fault campaign"):
the real agent process SIGKILLed 5 times at random moments while the stand-in cloud storms it
with 500 / 429 / slow / dropped-connection faults, a SIGTERM under each fault kind, then a
drain. Nothing committed may be lost or duplicated and the outbox passes integrity_check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fault_campaign import KINDS, run_campaign  # scripts/ is on sys.path (tests/conftest.py)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_five_kills_under_cloud_fault_storms_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    summary = run_campaign(5, seed=20261206, work=tmp_path / "campaign")
    why = json.dumps(summary)  # agent.log and both databases stay in tmp_path / "campaign"
    assert summary["kills"] == 5, why
    assert summary["events_committed"] > 0, why
    assert summary["lost"] == 0, why
    assert summary["duplicated"] == 0, why
    assert summary["sequence_gaps"] == 0, why
    assert summary["integrity"] == "ok", why
    assert summary["pending_in_outbox"] == 0, why
    assert summary["events_at_cloud"] == summary["events_committed"] - summary["dead_letters"], why
    assert [r["fault"] for r in summary["sigterm"]] == list(KINDS), why
    assert all(r["exit"] == 0 for r in summary["sigterm"]), why
    assert summary["ok"] is True, why
    assert sum(summary["faults_injected"].values()) > 0, why


def test_the_command_prints_help() -> None:
    out = subprocess.run([str(REPO / "scripts" / "faults"), "--help"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "--kills" in out
    assert "--seconds" in out
