"""Disk full: a clear StorageError, nothing already committed lost, recovery once space frees."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.errors import StorageError
from agent.store.outbox import Outbox
from tests.store.events_factory import alarm

REPO = Path(__file__).resolve().parents[2]


def _userns_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _userns_available(), reason="needs unshare -rm to mount a tiny tmpfs")
def test_a_really_full_filesystem_gives_storage_error_and_loses_nothing(tmp_path: Path) -> None:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    script = (
        f'mount -t tmpfs -o size=16m tmpfs "{mount}" && '
        f'exec "{sys.executable}" -m tests.store.disk_full_child "{mount}"'
    )
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["file_error"] is not None and found["file_error"].startswith("disk full"), found
    assert found["leftover_files"] == []
    assert found["accepts_after_file_error"] is True
    assert found["db_error"] is not None and found["db_error"].startswith("disk full"), found
    assert found["committed"] > 1000
    assert found["all_committed_present_while_full"] is True
    assert found["stats_disk_full"] is True
    assert found["refused_while_full"] is True
    assert found["acked"] >= found["committed"] * 3 // 4
    assert found["seq_after_drain"] == found["committed"] + 1
    assert found["stats_disk_full_after_drain"] is False
    assert found["unacked_present_after_reopen"] is True
    assert found["stored_after_reopen"] == found["expected_after_reopen"]
    assert found["integrity"] == "ok"

def test_sqlite_full_mid_batch_rolls_back_only_that_batch(outbox: Outbox) -> None:
    kept = outbox.append_many([alarm(i) for i in range(50)])
    pages = outbox._conn.execute("PRAGMA page_count").fetchone()[0]
    outbox._conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own SQLITE_FULL
    with pytest.raises(StorageError, match=r"^disk full"):
        outbox.append_many([alarm(100 + i) for i in range(500)])
    outbox._conn.execute("PRAGMA max_page_count = 1073741823")
    assert [e.sequence_number for e in outbox.claim(1000)] == kept
    assert outbox.append(alarm(999)) == kept[-1] + 1  # no sequence number burnt


def _in_tmpfs(tmp_path: Path, size: str, scenario: str) -> dict[str, Any]:
    mount = tmp_path / f"disk-{size}"
    mount.mkdir()
    script = (
        f'mount -t tmpfs -o size={size} tmpfs "{mount}" && '
        f'exec "{sys.executable}" -m tests.store.full_disk_child {scenario} "{mount}"'
    )
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


needs_tmpfs = pytest.mark.skipif(not _userns_available(),
                                 reason="needs unshare -rm to mount a tiny tmpfs")


@pytest.fixture(scope="module")
def full_of_positions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not _userns_available():
        pytest.skip("needs unshare -rm to mount a tiny tmpfs")
    return _in_tmpfs(tmp_path_factory.mktemp("lanes"), "8m", "lanes")


@needs_tmpfs
def test_on_a_full_disk_alarms_and_hardware_events_evict_periodic_positions(
    full_of_positions: dict[str, Any],
) -> None:
    found = full_of_positions
    assert found["fill_error"] is not None and found["fill_error"].startswith("disk full"), found
    assert found["periodic_committed"] > 1000
    assert found["disk_full"] is True
    assert found["refused_alarms"] == 0  # never refused while positions are stored
    assert found["all_alarms_stored"] is True
    assert found["alarms_kept"] == 301
    assert found["stats_evicted_periodic"] > 0
    assert 0 < found["periodic_left"] < found["periodic_committed"]
    assert found["refused_periodic"] == 500  # the lower lanes wait for space
    assert found["refused_through_writer"] == 300
    assert found["integrity"] == "ok"


@needs_tmpfs
def test_a_full_disk_raises_one_storage_fault_and_one_summary_line(
    full_of_positions: dict[str, Any],
) -> None:
    found = full_of_positions
    assert found["faults"] == [["disk_full", 1]]
    assert found["stats_episodes"] == 1
    # PERIODIC: the batch that hit the full disk, 500 appends, 300 through the writer
    assert found["stats_refused"] == {"4": 50 + 500 + 300}
    # 800 refused events, 301 alarms: one summary line (the first refusal), not 2 per event.
    assert len(found["log_lines_while_full"]) <= 2, found["log_lines_while_full"]


@needs_tmpfs
def test_a_12_mib_partition_recovers_from_a_full_disk_without_a_restart(tmp_path: Path) -> None:
    found = _in_tmpfs(tmp_path, "12m", "recover")
    assert found["fill_error"] is not None and found["fill_error"].startswith("disk full"), found
    assert found["disk_full"] is True
    assert found["acked"] == found["committed"]
    assert found["seq_after_drain"] == found["committed"] + 1, found
    assert found["disk_full_after_drain"] is False
    assert found["episodes"] == 1
    assert found["integrity"] == "ok"


@needs_tmpfs
def test_a_3_mib_partition_stores_the_start_event_and_what_fits(tmp_path: Path) -> None:
    found = _in_tmpfs(tmp_path, "3m", "tiny")
    assert found["start_event"] == 1, found
    assert found["committed"] > 500  # positions until the partition is full
    assert found["committed_present"] == found["committed"] - found["evicted_positions"]
    assert found["start_event_stored"] is True
    assert found["alarm_when_full"] == found["committed"] + 1, found
    assert found["alarm_stored"] is True
    assert found["integrity"] == "ok"


@needs_tmpfs
def test_rows_in_flight_when_the_disk_fills_are_released_and_evictable(tmp_path: Path) -> None:
    # Found by scripts/faults (disk phase): the release that filled the disk failed, its rows
    # stayed in flight until the next start, and the storage-fault event was refused.
    found = _in_tmpfs(tmp_path, "8m", "release")
    assert found["release_error"] is None, found
    assert found["disk_full"] is True, found
    assert found["in_flight"] == 0, found
    assert found["alarm_seq"] == 301, found
    assert found["evicted"].get("4", 0) >= 1, found  # the alarm evicted positions (JSON keys)
    assert found["integrity"] == "ok", found


@needs_tmpfs
def test_an_alarm_on_a_full_disk_evicts_positions_the_uplink_holds_in_flight(
    tmp_path: Path,
) -> None:
    # Found by scripts/faults (disk phase): under a storm the uplink holds every lower row in
    # flight, and an alarm arriving then on a full disk was refused.
    found = _in_tmpfs(tmp_path, "8m", "in_flight")
    assert found["claimed"] == 301 and found["pending_before"] == 0, found
    assert all(isinstance(a, int) for a in found["alarms"]), found  # none refused
    assert found["evicted"].get("4", 0) >= 1, found  # positions in flight went (JSON keys)
    assert found["vision_file_kept"] is True, found  # a row with files in flight stays
    assert found["ack_error"] is None, found  # acking evicted rows is a no-op
    assert found["in_flight_after_ack"] == 0, found
    assert found["pending_after_ack"] == {"0": 50}, found  # the alarms (JSON keys)
    assert found["integrity"] == "ok", found
