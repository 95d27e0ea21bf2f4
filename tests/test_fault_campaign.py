"""The fault campaign's CI-short settings (scripts/faults, docs/reliability.md "Fault campaign").

- kills + orders + sigterm: the real agent process SIGKILLed 5 times at random moments while
  the stand-in cloud storms it with 500 / 429 / slow / dropped-connection faults and issues
  signed orders through a mosquitto of the campaign's own (restarted once, its persistence
  wiped), a SIGTERM under each fault kind, then a drain. Nothing committed may be lost or
  duplicated, the outbox passes integrity_check, every order executes exactly once;
- disk: the data dir on a 3 MiB tmpfs filled to the brim while the agent runs;
- corrupt: a garbage page in the database, a garbage -wal, at start-up.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fault_campaign import (  # scripts/ is on sys.path (tests/conftest.py)
    KINDS,
    run_campaign,
    run_corrupt_phase,
    run_disk_phase,
    tmpfs_unavailable,
)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_five_kills_with_orders_and_a_broker_restart_lose_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    summary = run_campaign(5, seed=20261206, work=tmp_path / "campaign", orders=True,
                           broker_restarts=1)
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
    assert sum(summary["faults_injected"].values()) > 0, why
    orders = summary["orders"]
    assert orders["issued"] > 0, why
    assert orders["executed_exactly_once"] == orders["issued"], why
    assert orders["duplicated"] == 0 and orders["missing"] == 0, why
    assert orders["broker_restarts"] == ["wipe"], why
    assert summary["ok"] is True, why


@pytest.mark.skipif(tmpfs_unavailable() is not None, reason="needs unshare -rm and nsenter")
def test_a_3_mib_partition_filled_to_the_brim_keeps_alarms_and_recovers(tmp_path: Path) -> None:
    result = run_disk_phase(tmp_path / "disk", ("3MiB",), full_s=6.0, seed=3)
    case = result["cases"]["3MiB"]
    why = json.dumps(case)
    assert case["disk_full_seen"] and case["alive_while_full"], why
    assert not case["refused_by_lane"].get("ALARM"), why
    assert not case["refused_by_lane"].get("HARDWARE"), why
    assert any(d.startswith("disk_full") for d in case["storage_fault_events"]), why
    assert case["recovered_after_s"] is not None and case["drained"], why
    assert case["stored_after_recovery"] > 0, why
    assert case["lost"] == 0 and case["duplicated"] == 0 and case["integrity"] == "ok", why
    assert result["ok"] is True, why


def test_a_garbage_page_and_a_garbage_wal_are_set_aside_and_the_agent_keeps_working(
    tmp_path: Path,
) -> None:
    result = run_corrupt_phase(tmp_path / "corrupt", ("garbage_page", "garbage_wal"),
                               run_s=2.5, seed=5)
    why = json.dumps(result)
    for case in ("garbage_page", "garbage_wal"):
        found = result[case]
        assert found["started"] and found["alive"] and found["stop_exit"] == 0, why
        assert len(found["quarantined"]) == 1, why
        assert found["events_at_cloud"] > 0 and found["integrity"] == "ok", why
    for case, what in (("garbage_page", "corrupt database"),
                       ("garbage_wal", "corrupt write-ahead log")):
        found = result[case]
        assert found["storage_fault_events"][0].startswith(f"{what} moved aside"), why
    assert result["ok"] is True, why


def test_the_command_prints_help() -> None:
    out = subprocess.run([str(REPO / "scripts" / "faults"), "--help"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    for option in ("--kills", "--seconds", "--phases", "--broker-restarts", "--disk-cases",
                   "--corruptions", "--quick", "--long"):
        assert option in out
