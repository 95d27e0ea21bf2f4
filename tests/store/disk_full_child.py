"""Child for the disk-full test: runs inside a tiny tmpfs (``unshare -rm`` + ``mount``).

Usage: ``python -m tests.store.disk_full_child MOUNTPOINT``; prints one JSON line of findings.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from agent.errors import StorageError
from agent.store.api import Attachment, DiskFullError
from agent.store.outbox import Outbox
from tests.store.events_factory import IDENTITY, alarm, vision


def _stored(db: Path) -> dict[str, int]:
    """What is on disk, read without writing anything."""
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT ulid, seq FROM events"))


def main(mount: Path) -> dict[str, object]:
    data_dir = mount / "edge-agent"
    db = data_dir / "outbox.sqlite3"
    found: dict[str, object] = {}
    committed: dict[str, int] = {}
    box = Outbox(data_dir, IDENTITY, max_bytes=64 << 20, reserve_bytes=5 << 20)

    # A. A file bigger than the disk: refused, nothing left behind, events still accepted.
    event = vision(1, with_file=True)
    try:
        box.append(event, [Attachment(event.files[0], b"\x89PNG" * 5_000_000)])
        found["file_error"] = None
    except DiskFullError as exc:
        found["file_error"] = str(exc)
    found["leftover_files"] = [str(p) for p in (data_dir / "files").rglob("*") if p.is_file()]
    found["accepts_after_file_error"] = box.append(alarm(0)) == 1
    committed[box.claim(1)[0].ulid] = 1
    box.release([1])

    # B. Fill the disk with events until SQLite itself reports it.
    i = 1
    try:
        while i < 100_000:
            batch = [alarm(i + k) for k in range(100)]
            seqs = box.append_many(batch)
            committed.update({e.ulid: s for e, s in zip(batch, seqs, strict=True)})
            i += 100
        found["db_error"] = None
    except DiskFullError as exc:
        found["db_error"] = str(exc)
    found["committed"] = len(committed)
    found["all_committed_present_while_full"] = _stored(db) == committed
    found["stats_disk_full"] = box.stats().disk_full
    try:
        box.append(alarm(10**6))
        found["refused_while_full"] = False
    except StorageError:
        found["refused_while_full"] = True

    # C. The uplink can still drain (the reserve lent it room), which frees space.
    acked: set[str] = set()
    while len(acked) < len(committed) * 3 // 4:
        claimed = box.claim(100)
        box.ack([e.row_id for e in claimed])
        acked.update(e.ulid for e in claimed)
    found["acked"] = len(acked)

    # D. Space is back: events are accepted again, with the next sequence number.
    found["seq_after_drain"] = box.append(alarm(2 * 10**6))
    found["stats_disk_full_after_drain"] = box.stats().disk_full
    box.close()
    with Outbox(data_dir, IDENTITY, max_bytes=64 << 20, reserve_bytes=5 << 20):
        # Read, not claimed: one claim of every row would need a WAL larger than the disk.
        stored = _stored(db)
    expected = {u: s for u, s in committed.items() if u not in acked}
    found["unacked_present_after_reopen"] = all(stored.get(u) == s for u, s in expected.items())
    found["stored_after_reopen"] = len(stored)
    found["expected_after_reopen"] = len(expected) + 1
    with sqlite3.connect(db) as conn:
        found["integrity"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return found


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))), flush=True)
