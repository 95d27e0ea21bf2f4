"""A corrupt outbox database is moved aside and a fresh one keeps the agent recording."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent.store.api import Attachment
from agent.store.outbox import Outbox
from agent.store.seqmark import STRIDE
from tests.store.events_factory import IDENTITY, alarm, periodic, vision

DB = "outbox.sqlite3"


def _corrupt_names(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.name.startswith(f"{DB}.corrupt-"))


def _fill(data_dir: Path, n: int = 2000) -> None:
    with Outbox(data_dir, IDENTITY) as box:
        box.append_many([periodic(i) for i in range(n)])


def _past(stored: int) -> int:
    """Where ``sequenceNumber`` continues after a loss, ``stored`` events having been stored in
    one batch: at the sequence mark, which that batch set STRIDE past its last number."""
    return stored + 1 + STRIDE


def _assert_fresh_outbox_works(box: Outbox, first_seq: int) -> None:
    assert box.stats().pending == {}
    # The sequence continues at the mark kept beside the database: past every number issued
    # before, whatever happened to the database (agent/store/seqmark.py).
    assert box.append(alarm(1)) == first_seq
    (event,) = box.claim(5)
    box.ack([event.row_id])
    assert box.stats().in_flight == 0


def test_a_file_that_is_not_a_database_is_quarantined(data_dir: Path) -> None:
    _fill(data_dir, 10)
    garbage = b"this is not sqlite at all " * 200
    (data_dir / DB).write_bytes(garbage)
    (data_dir / f"{DB}-wal").write_bytes(b"stale wal")
    with Outbox(data_dir, IDENTITY) as box:
        (moved,) = box.quarantined_at_open
        assert moved.name.startswith(f"{DB}.corrupt-")
        assert moved.read_bytes() == garbage  # kept byte for byte for a technician
        assert Path(f"{moved}-wal").read_bytes() == b"stale wal"
        assert box.stats().quarantined == (moved.name,)
        _assert_fresh_outbox_works(box, first_seq=_past(10))


def test_a_wal_that_is_not_a_write_ahead_log_is_set_aside_and_the_database_kept(
    data_dir: Path,
) -> None:
    # SQLite ignores a -wal with a bad header, and with it every transaction committed since the
    # last checkpoint, silently (found by scripts/faults, corrupt phase): the -wal is moved aside
    # and reported, and the database, with everything checkpointed, stays to be delivered.
    _fill(data_dir, 50)
    garbage = random.Random(9).randbytes(64 * 1024)
    (data_dir / f"{DB}-wal").write_bytes(garbage)
    (data_dir / f"{DB}-shm").write_bytes(b"stale index")
    with Outbox(data_dir, IDENTITY) as box:
        assert box.quarantined_at_open == ()
        moved = box.wal_set_aside
        assert moved is not None and moved.name.startswith(f"{DB}-wal.corrupt-")
        assert moved.read_bytes() == garbage  # kept for a technician
        assert Path(f"{moved}-shm").read_bytes() == b"stale index"
        assert box.stats().quarantined == (moved.name,)
        assert box.stats().pending == {4: 50}  # nothing checkpointed is stranded
        # The counter goes on past the numbers the lost -wal may have held.
        assert box.append(alarm(1)) == _past(50)


def test_the_wal_of_a_killed_agent_is_replayed_not_quarantined(
    tmp_path: Path, data_dir: Path,
) -> None:
    killed = tmp_path / "killed"
    killed.mkdir()
    with Outbox(data_dir, IDENTITY) as box:
        box.append_many([periodic(i) for i in range(50)])
        for name in (DB, f"{DB}-wal"):  # what a SIGKILL leaves: the commits in the -wal
            shutil.copyfile(data_dir / name, killed / name)
    assert (killed / f"{DB}-wal").stat().st_size > 32
    with Outbox(killed, IDENTITY) as box:
        assert box.quarantined_at_open == ()
        assert box.wal_set_aside is None
        assert box.stats().pending == {4: 50}


_OPEN_AND_APPEND = """
import json, sys
from pathlib import Path
from agent.store.outbox import Outbox
from tests.store.events_factory import IDENTITY, alarm
with Outbox(Path(sys.argv[1]), IDENTITY) as box:
    moved = [p.name for p in box.quarantined_at_open]
    print(json.dumps({"moved": moved, "seq": box.append(alarm(1))}))
"""


def test_a_database_this_user_cannot_read_is_quarantined_not_a_restart_loop(
    data_dir: Path,
) -> None:
    # Found by scripts/faults (corrupt phase, "unreadable"): the agent exited at every start
    # ("cannot open the database ... Permission denied") and recorded nothing.
    _fill(data_dir, 5)
    (data_dir / DB).chmod(0)
    cmd = [sys.executable, "-c", _OPEN_AND_APPEND, str(data_dir)]
    if os.geteuid() == 0:  # root reads a mode-000 file: be "nobody" owning the files instead
        if shutil.which("unshare") is None or subprocess.run(
                ["unshare", "-U", "--map-user=65534", "true"], check=False).returncode != 0:
            pytest.skip("needs unshare -U to drop root")
        cmd = ["unshare", "-U", "--map-user=65534", "--map-group=65534", "--", *cmd]
    out = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(found["moved"]) == 1 and found["moved"][0].startswith(f"{DB}.corrupt-"), found
    assert found["seq"] == _past(5), found  # the mark, though the file cannot be read
    (moved,) = [p for p in data_dir.iterdir() if p.name == found["moved"][0]]
    assert moved.stat().st_mode & 0o777 == 0  # kept as it was, for a technician


def test_a_database_failing_quick_check_is_quarantined(data_dir: Path) -> None:
    _fill(data_dir)
    db = data_dir / DB
    size = db.stat().st_size
    page = 4096
    rng = random.Random(7)
    with db.open("r+b") as f:  # page 1 (header, schema) intact; b-tree pages scribbled over
        for n in range(3, size // page, 4):
            f.seek(n * page)
            f.write(rng.randbytes(page))
    with Outbox(data_dir, IDENTITY) as box:
        assert len(box.quarantined_at_open) == 1
        _assert_fresh_outbox_works(box, first_seq=_past(2000))
    with sqlite3.connect(data_dir / DB) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_files_of_a_quarantined_database_are_moved_aside_with_it(data_dir: Path) -> None:
    event = vision(1, with_file=True)
    with Outbox(data_dir, IDENTITY) as box:
        box.append(event, [Attachment(event.files[0], b"evidence")])
    (data_dir / DB).write_bytes(os.urandom(8192))
    with Outbox(data_dir, IDENTITY) as box:
        (moved,) = box.quarantined_at_open
        suffix = moved.name[len(DB):]
        aside = data_dir / f"files{suffix}"
        assert (aside / "v3-device-faces" / event.files[0].filename).read_bytes() == b"evidence"
        assert [p for p in (data_dir / "files").rglob("*") if p.is_file()] == []
        _assert_fresh_outbox_works(box, first_seq=_past(1))


def test_quarantined_databases_stay_listed_but_are_not_moved_again(data_dir: Path) -> None:
    _fill(data_dir, 5)
    (data_dir / DB).write_bytes(b"\0" * 100 + b"junk" * 100)
    with Outbox(data_dir, IDENTITY) as box:
        first = box.stats().quarantined
        box.append(alarm(1))
    with Outbox(data_dir, IDENTITY) as box:
        assert box.quarantined_at_open == ()
        assert box.stats().quarantined == first
        assert box.stats().pending == {0: 1}
    assert len(_corrupt_names(data_dir)) == 1
