"""Disk full: a clear StorageError, nothing already committed lost, recovery once space frees."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

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
